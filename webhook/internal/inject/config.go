package inject

import (
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/portrange"
)

// Config is what the webhook injects by default; per-pod annotations override parts of it
// (overrides.go). The handler builds one snapshot per request, so fields may change between
// requests (e.g. CABundle after a certificate rotation) without locking here.
type Config struct {
	// Image is the resolver image (required).
	Image string
	// OperatorURL is passed as --operator-url.
	OperatorURL string
	// ClusterDomain is passed as --cluster-domain.
	ClusterDomain string
	// Audience is the audience of the projected ServiceAccount token.
	Audience string
	// TokenExpirySeconds is the projected token's expirationSeconds (the API server's minimum is 600).
	TokenExpirySeconds int64
	// LogLevel is the default --log-level.
	LogLevel string
	// CABundle is the PEM bundle the sidecar uses to verify the operator; set as names.EnvCABundle.
	CABundle string
	// NativeSidecar injects an init container with restartPolicy Always (Kubernetes >= 1.29)
	// instead of a regular container.
	NativeSidecar bool
	// ProxyPort and AdminPort are the default container ports.
	ProxyPort int32
	AdminPort int32
	// SidecarPortRange is where the operator allocates sidecar ports (its --sidecar-port-range):
	// a gateway pod that declares a port in it is not injected.
	SidecarPortRange portrange.Range
	// CPURequest, MemoryRequest and MemoryLimit are the default resources. There is no CPU limit on
	// purpose: a throttled resolver adds latency to the very requests it is holding.
	CPURequest    resource.Quantity
	MemoryRequest resource.Quantity
	MemoryLimit   resource.Quantity
	// SystemNamespace is Elasti's own namespace (never injected).
	SystemNamespace string
}

// DefaultConfig returns the defaults the webhook's flags start from. Image is left empty: the
// deployment must say which resolver image to inject.
func DefaultConfig() Config {
	return Config{
		OperatorURL:        names.DefaultOperatorURL,
		ClusterDomain:      names.DefaultClusterDomain,
		Audience:           names.DefaultAudience,
		TokenExpirySeconds: names.SidecarTokenExpirySeconds,
		LogLevel:           "info",
		NativeSidecar:      true,
		ProxyPort:          names.DefaultProxyPort,
		AdminPort:          names.DefaultAdminPort,
		SidecarPortRange:   portrange.MustParse(portrange.Default),
		CPURequest:         resource.MustParse("10m"),
		MemoryRequest:      resource.MustParse("32Mi"),
		MemoryLimit:        resource.MustParse("128Mi"),
		SystemNamespace:    names.SystemNamespace,
	}
}
