package framework

import (
	"fmt"
	"os"
	"time"

	"github.com/elasti-dev/elasti/pkg/names"
)

// Config is what the suite needs to know about the cluster under test. Every field comes from an
// environment variable so that `go test` needs no flags; Describe prints them.
type Config struct {
	// Kubeconfig is the path of the cluster's kubeconfig (KUBECONFIG).
	Kubeconfig string
	// SystemNamespace is where Elasti is installed (E2E_SYSTEM_NAMESPACE).
	SystemNamespace string
	// DemoImage, GatewayImage, GRPCImage, PrometheusImage and TraefikImage must already be
	// loaded on the node(s); pods use imagePullPolicy IfNotPresent.
	DemoImage       string
	GatewayImage    string
	GRPCImage       string
	PrometheusImage string
	TraefikImage    string
	// LocalClusterDir is the state directory of hack/cluster's local cluster
	// (E2E_LOCAL_CLUSTER_DIR). The fault scenarios that stop cluster processes need it.
	LocalClusterDir string
	// Timeout scales every wait (E2E_TIMEOUT_SCALE, a float, default 1).
	TimeoutScale float64
}

// DefaultImageTag is the tag `make images` gives Elasti's own images.
const DefaultImageTag = "v0.1.0-dev"

// PrometheusVersion is the Prometheus module version hack/prometheus builds.
const PrometheusVersion = "v0.313.5"

// TraefikVersion is the Traefik module version hack/traefik builds.
const TraefikVersion = "v3.7.13"

// ConfigFromEnv reads Config from the environment.
func ConfigFromEnv() Config {
	tag := env("E2E_IMAGE_TAG", DefaultImageTag)
	c := Config{
		Kubeconfig:      os.Getenv("KUBECONFIG"),
		SystemNamespace: env("E2E_SYSTEM_NAMESPACE", names.SystemNamespace),
		DemoImage:       env("E2E_DEMO_IMAGE", "elasti/demo-app:"+tag),
		GatewayImage:    env("E2E_GATEWAY_IMAGE", "elasti/gateway:"+tag),
		GRPCImage:       env("E2E_GRPC_IMAGE", "elasti/e2e-grpc-echo:"+tag),
		PrometheusImage: env("E2E_PROMETHEUS_IMAGE", "elasti/e2e-prometheus:"+PrometheusVersion),
		TraefikImage:    env("E2E_TRAEFIK_IMAGE", "elasti/e2e-traefik:"+TraefikVersion),
		LocalClusterDir: env("E2E_LOCAL_CLUSTER_DIR", defaultLocalClusterDir()),
		TimeoutScale:    1,
	}
	if v := os.Getenv("E2E_TIMEOUT_SCALE"); v != "" {
		var f float64
		if _, err := fmt.Sscanf(v, "%g", &f); err == nil && f > 0 {
			c.TimeoutScale = f
		}
	}
	return c
}

// Scale stretches a timeout by TimeoutScale.
func (c Config) Scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.TimeoutScale)
}

// Describe is a one-line summary for the suite's log.
func (c Config) Describe() string {
	return fmt.Sprintf("kubeconfig=%s system-namespace=%s demo=%s gateway=%s grpc=%s prometheus=%s traefik=%s local-cluster=%q",
		c.Kubeconfig, c.SystemNamespace, c.DemoImage, c.GatewayImage, c.GRPCImage, c.PrometheusImage, c.TraefikImage, c.LocalClusterDir)
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func defaultLocalClusterDir() string {
	cache := os.Getenv("ELASTI_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = home + "/.cache/elasti"
	}
	return cache + "/cluster"
}
