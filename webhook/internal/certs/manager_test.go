package certs

import (
	"context"
	"crypto/x509"
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
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/internal/pki"
)

var dnsNames = []string{"elasti-webhook.elasti-system.svc", "elasti-operator.elasti-system.svc"}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newManager(c client.Client, clk *clock, dir string) *Manager {
	return &Manager{
		Client: c, Namespace: "elasti-system", SecretName: "elasti-tls", CASecretName: "elasti-ca",
		DNSNames: dnsNames, WebhookConfigName: "elasti-webhook", CertDir: dir, Now: clk.now, Log: logr.Discard(),
	}
}

func mwc() *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "elasti-webhook"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "pods.elasti.dev"}},
	}
}

func secret(t *testing.T, c client.Client, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: "elasti-system", Name: name}, s))
	return s
}

func leafOf(t *testing.T, s *corev1.Secret) *x509.Certificate {
	t.Helper()
	kp, err := pki.ParseKeyPair(s.Data[KeyTLSCert], s.Data[KeyTLSKey])
	require.NoError(t, err)
	return kp.Cert
}

func TestManagerLifecycle(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithObjects(mwc()).Build()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	m := newManager(c, clk, dir)

	require.NoError(t, m.Ensure(ctx))
	s := secret(t, c, "elasti-tls")
	leaf := leafOf(t, s)
	assert.ElementsMatch(t, dnsNames, leaf.DNSNames)
	assert.Equal(t, DefaultServingLifetime+pki.ClockSkew, leaf.NotAfter.Sub(leaf.NotBefore))
	verify(t, s.Data[KeyCACert], leaf, clk.t)
	got := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "elasti-webhook"}, got))
	assert.Equal(t, s.Data[KeyCACert], got.Webhooks[0].ClientConfig.CABundle)
	for k, v := range map[string][]byte{KeyTLSCert: s.Data[KeyTLSCert], KeyTLSKey: s.Data[KeyTLSKey], KeyCACert: s.Data[KeyCACert]} {
		b, err := os.ReadFile(filepath.Join(dir, k))
		require.NoError(t, err)
		assert.Equal(t, v, b, k)
	}

	t.Run("nothing changes before renewal", func(t *testing.T) {
		clk.t = clk.t.Add(59 * 24 * time.Hour)
		require.NoError(t, m.Ensure(ctx))
		assert.Equal(t, s.ResourceVersion, secret(t, c, "elasti-tls").ResourceVersion)
	})
	t.Run("leaf renewed at two thirds, same CA", func(t *testing.T) {
		clk.t = clk.t.Add(2 * 24 * time.Hour)
		require.NoError(t, m.Ensure(ctx))
		s2 := secret(t, c, "elasti-tls")
		assert.NotEqual(t, leaf.SerialNumber, leafOf(t, s2).SerialNumber)
		assert.Equal(t, s.Data[KeyCACert], s2.Data[KeyCACert])
	})
	t.Run("CA renewed at two thirds, old CA still trusted", func(t *testing.T) {
		oldCA := secret(t, c, "elasti-ca").Data[KeyCACert]
		clk.t = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(245 * 24 * time.Hour)
		require.NoError(t, m.Ensure(ctx))
		s3 := secret(t, c, "elasti-tls")
		bundle, err := parseCerts(s3.Data[KeyCACert])
		require.NoError(t, err)
		require.Len(t, bundle, 2, "new CA and previous CA")
		assert.Contains(t, string(s3.Data[KeyCACert]), string(oldCA))
		verify(t, s3.Data[KeyCACert], leafOf(t, s3), clk.t)
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "elasti-webhook"}, got))
		assert.Equal(t, s3.Data[KeyCACert], got.Webhooks[0].ClientConfig.CABundle)
	})
	t.Run("previous CA dropped after it expires", func(t *testing.T) {
		clk.t = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(366 * 24 * time.Hour)
		require.NoError(t, m.Ensure(ctx))
		bundle, err := parseCerts(secret(t, c, "elasti-tls").Data[KeyCACert])
		require.NoError(t, err)
		assert.Len(t, bundle, 1)
	})
}

func TestManagerReissuesForNewDNSNames(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(mwc()).Build()
	clk := &clock{t: time.Now()}
	m := newManager(c, clk, "")
	require.NoError(t, m.Ensure(context.Background()))
	m.DNSNames = append(m.DNSNames, "elasti-webhook.elasti-system.svc.cluster.local")
	require.NoError(t, m.Ensure(context.Background()))
	assert.Contains(t, leafOf(t, secret(t, c, "elasti-tls")).DNSNames, "elasti-webhook.elasti-system.svc.cluster.local")
}

// TestManagerReplicasAgree runs two replicas at once: both end with the same Secret.
func TestManagerReplicasAgree(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(mwc()).Build()
	clk := &clock{t: time.Now()}
	dirs := []string{t.TempDir(), t.TempDir()}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = newManager(c, clk, dirs[i]).Ensure(context.Background())
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	// A final pass on each replica adopts the winner's certificate.
	for _, d := range dirs {
		require.NoError(t, newManager(c, clk, d).Ensure(context.Background()))
	}
	s := secret(t, c, "elasti-tls")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, KeyTLSCert))
		require.NoError(t, err)
		assert.Equal(t, s.Data[KeyTLSCert], b)
	}
}

func verify(t *testing.T, bundle []byte, leaf *x509.Certificate, now time.Time) {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(bundle))
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: dnsNames[0], CurrentTime: now})
	require.NoError(t, err)
}

// TestCARenewalKeepsTheServingCertificateUntilItsRenewal: when the CA is renewed while the
// serving certificate is still good, only the bundle changes (new CA + previous); the certificate,
// signed by the previous CA, stays until its own renewal, and only then is it signed by the new
// CA. Clients therefore get the new bundle long before they meet a certificate that needs it.
func TestCARenewalKeepsTheServingCertificateUntilItsRenewal(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithObjects(mwc()).Build()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	m := newManager(c, clk, "")
	m.CALifetime, m.ServingLifetime = 300*24*time.Hour, 90*24*time.Hour
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }

	require.NoError(t, m.Ensure(ctx))
	clk.t = day(181) // leaf renewed (due at ~60 days) under the first CA, which is due at ~200 days
	require.NoError(t, m.Ensure(ctx))
	oldCA := secret(t, c, "elasti-ca").Data[KeyCACert]
	before := secret(t, c, "elasti-tls")
	leaf := leafOf(t, before)
	require.Len(t, unexpired(before.Data[KeyCACert], clk.t), 1)

	clk.t = day(201) // the CA is due; the leaf (issued on day 181) is not
	require.NoError(t, m.Ensure(ctx))
	after := secret(t, c, "elasti-tls")
	newCA := secret(t, c, "elasti-ca").Data[KeyCACert]
	require.NotEqual(t, oldCA, newCA, "CA renewed")
	assert.Equal(t, before.Data[KeyTLSCert], after.Data[KeyTLSCert], "the certificate is kept")
	assert.Equal(t, before.Data[KeyTLSKey], after.Data[KeyTLSKey])
	assert.Equal(t, string(newCA)+string(oldCA), string(after.Data[KeyCACert]), "ca.crt: the new CA, then the previous")
	verify(t, after.Data[KeyCACert], leaf, clk.t)
	got := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "elasti-webhook"}, got))
	assert.Equal(t, after.Data[KeyCACert], got.Webhooks[0].ClientConfig.CABundle, "the API server gets the new bundle too")

	clk.t = day(242) // the leaf of day 181 is due: now it moves to the new CA
	require.NoError(t, m.Ensure(ctx))
	renewed := leafOf(t, secret(t, c, "elasti-tls"))
	assert.NotEqual(t, leaf.SerialNumber, renewed.SerialNumber)
	newKP, err := pki.ParseKeyPair(newCA, secret(t, c, "elasti-ca").Data[KeyCAKey])
	require.NoError(t, err)
	assert.NoError(t, renewed.CheckSignatureFrom(newKP.Cert), "signed by the new CA")
	assert.False(t, renewed.NotAfter.After(newKP.Cert.NotAfter))
}
