//go:build integration

package certs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/elasti-dev/elasti/internal/pki"
	"github.com/elasti-dev/elasti/internal/testenv"
)

// TestIntegrationSelfManaged: two replicas at once against a real API server create exactly one
// CA and one serving Secret, write the caBundle into the shipped MutatingWebhookConfiguration,
// and a later pass changes nothing.
func TestIntegrationSelfManaged(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := context.Background()
	c := env.Client
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elasti-system"}}))
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "base", "webhook", "mutatingwebhookconfiguration.yaml"))
	require.NoError(t, err)
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, yaml.UnmarshalStrict(b, mwc))
	require.NoError(t, c.Create(ctx, mwc))

	newM := func(dir string) *Manager {
		return &Manager{Client: c, Namespace: "elasti-system", SecretName: "elasti-tls", CASecretName: "elasti-ca",
			DNSNames: dnsNames, WebhookConfigName: "elasti-webhook", CertDir: dir, Log: logr.Discard()}
	}
	dirs := []string{t.TempDir(), t.TempDir()}
	var wg sync.WaitGroup
	errs := make([]error, len(dirs))
	for i, d := range dirs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = newM(d).Ensure(ctx) }()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	s := &corev1.Secret{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "elasti-system", Name: "elasti-tls"}, s))
	assert.Equal(t, corev1.SecretTypeTLS, s.Type)
	for _, k := range []string{KeyTLSCert, KeyTLSKey, KeyCACert} {
		assert.NotEmpty(t, s.Data[k], k)
	}
	leaf, err := pki.ParseKeyPair(s.Data[KeyTLSCert], s.Data[KeyTLSKey])
	require.NoError(t, err)
	verify(t, s.Data[KeyCACert], leaf.Cert, time.Now())
	assert.LessOrEqual(t, leaf.Cert.NotAfter.Sub(leaf.Cert.NotBefore), DefaultServingLifetime+pki.ClockSkew)

	got := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "elasti-webhook"}, got))
	assert.Equal(t, s.Data[KeyCACert], got.Webhooks[0].ClientConfig.CABundle)

	rv := s.ResourceVersion
	for _, d := range dirs {
		require.NoError(t, newM(d).Ensure(ctx))
		f, err := os.ReadFile(filepath.Join(d, KeyTLSCert))
		require.NoError(t, err)
		assert.Equal(t, s.Data[KeyTLSCert], f, "every replica serves the Secret's certificate")
	}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "elasti-system", Name: "elasti-tls"}, s))
	assert.Equal(t, rv, s.ResourceVersion, "a pass with valid certificates writes nothing")
}
