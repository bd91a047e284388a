package webhook

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSupportsNativeSidecar(t *testing.T) {
	tests := []struct {
		major, minor string
		want         bool
	}{
		{"1", "28", false}, {"1", "29", true}, {"1", "29+", true}, {"1", "37", true}, {"1", "", false}, {"2", "0", true}, {"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.major+"."+tt.minor, func(t *testing.T) {
			assert.Equal(t, tt.want, SupportsNativeSidecar(tt.major, tt.minor))
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults with an image", []string{"--sidecar-image=ghcr.io/elasti-dev/resolver:v1"}, ""},
		{"image required", nil, "--sidecar-image"},
		{"bad log level", []string{"--sidecar-image=a/b:c", "--sidecar-log-level=loud"}, "--sidecar-log-level"},
		{"short token", []string{"--sidecar-image=a/b:c", "--token-expiry-seconds=60"}, "minimum is 600"},
		{"request above limit", []string{"--sidecar-image=a/b:c", "--sidecar-memory-request=1Gi"}, "larger than"},
		{"bad cert mode", []string{"--sidecar-image=a/b:c", "--cert-mode=magic"}, "--cert-mode"},
		{"bad native mode", []string{"--sidecar-image=a/b:c", "--native-sidecar=maybe"}, "--native-sidecar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
			o.BindFlags(fs)
			require.NoError(t, fs.Parse(tt.args))
			cfg, err := o.injectConfig()
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, "ghcr.io/elasti-dev/resolver:v1", cfg.Image)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestDefaultCertDNSNames(t *testing.T) {
	assert.Equal(t, []string{
		"elasti-webhook.elasti-system.svc", "elasti-webhook.elasti-system.svc.cluster.local",
		"elasti-operator.elasti-system.svc", "elasti-operator.elasti-system.svc.cluster.local",
	}, DefaultCertDNSNames("elasti-system", "cluster.local"))
}
