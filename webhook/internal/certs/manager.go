package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/internal/pki"
)

// Secret keys.
const (
	KeyTLSCert = corev1.TLSCertKey       // tls.crt
	KeyTLSKey  = corev1.TLSPrivateKeyKey // tls.key
	KeyCACert  = "ca.crt"
	// In the CA Secret: the CA's key and the previous CA (kept in ca.crt bundles until it expires).
	KeyCAKey      = "ca.key"
	KeyPreviousCA = "previous-ca.crt"
)

// Defaults: no 10-year certificates.
const (
	DefaultCALifetime      = 365 * 24 * time.Hour
	DefaultServingLifetime = 90 * 24 * time.Hour
	DefaultCheckInterval   = 10 * time.Minute
)

// Manager creates and renews the CA and serving certificate (see the package doc).
type Manager struct {
	// Client must read uncached (the manager's APIReader is not enough: it also writes).
	Client client.Client
	// Namespace holds SecretName (elasti-tls) and CASecretName (elasti-ca).
	Namespace    string
	SecretName   string
	CASecretName string
	// DNSNames of the serving certificate (the first is its common name).
	DNSNames []string
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle is kept current; empty
	// skips it.
	WebhookConfigName string
	// CertDir receives tls.crt, tls.key and ca.crt; empty skips writing files.
	CertDir         string
	CALifetime      time.Duration
	ServingLifetime time.Duration
	CheckInterval   time.Duration
	Now             func() time.Time
	Log             logr.Logger
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// errRetry means another replica wrote first; re-read and try again.
var errRetry = errors.New("lost a write race")

// Ensure makes the Secrets, the files and the caBundle current. It retries write races a few
// times and returns the first other error.
func (m *Manager) Ensure(ctx context.Context) error {
	for attempt := 0; attempt < 5; attempt++ {
		err := m.ensureOnce(ctx)
		if !errors.Is(err, errRetry) {
			return err
		}
		m.Log.V(1).Info("another replica wrote the certificate first; re-reading")
	}
	return fmt.Errorf("ensuring certificates: %w five times", errRetry)
}

func (m *Manager) ensureOnce(ctx context.Context) error {
	ca, bundle, err := m.ensureCA(ctx)
	if err != nil {
		return err
	}
	secret, err := m.ensureServing(ctx, ca, bundle)
	if err != nil {
		return err
	}
	if m.CertDir != "" {
		if err := WriteFiles(m.CertDir, secret.Data); err != nil {
			return err
		}
	}
	return m.ensureCABundle(ctx, secret.Data[KeyCACert])
}

// Start runs Ensure every CheckInterval until ctx ends (manager.Runnable, on every replica).
func (m *Manager) Start(ctx context.Context) error {
	interval := m.CheckInterval
	if interval <= 0 {
		interval = DefaultCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := m.Ensure(ctx); err != nil {
			m.Log.Error(err, "ensuring the webhook certificate; retrying", "in", interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection is false: every replica needs the files (see the package doc).
func (m *Manager) NeedLeaderElection() bool { return false }

// ensureCA returns the current CA and the ca.crt bundle (current CA, then the previous one while
// it is still valid).
func (m *Manager) ensureCA(ctx context.Context) (*KeyPair, []byte, error) {
	s := &corev1.Secret{}
	err := m.Client.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.CASecretName}, s)
	if apierrors.IsNotFound(err) {
		ca, err := pki.NewCA(m.now(), m.lifetime(m.CALifetime, DefaultCALifetime))
		if err != nil {
			return nil, nil, err
		}
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Name: m.CASecretName, Labels: labels()},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{KeyCACert: ca.CertPEM, KeyCAKey: ca.KeyPEM},
		}
		m.Log.Info("creating the webhook CA", "secret", m.CASecretName, "notAfter", ca.Cert.NotAfter)
		return ca, ca.CertPEM, createOrRetry(m.Client.Create(ctx, s))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading secret %s/%s: %w", m.Namespace, m.CASecretName, err)
	}
	ca, caErr := pki.ParseKeyPair(s.Data[KeyCACert], s.Data[KeyCAKey])
	now := m.now()
	if caErr == nil && now.Before(RenewAt(ca.Cert)) {
		return ca, m.caBundle(ca, s.Data[KeyPreviousCA], now), nil
	}
	// Renew: the old CA (if it parsed and is unexpired) stays trusted through previous-ca.crt.
	next, err := pki.NewCA(now, m.lifetime(m.CALifetime, DefaultCALifetime))
	if err != nil {
		return nil, nil, err
	}
	s.Data = map[string][]byte{KeyCACert: next.CertPEM, KeyCAKey: next.KeyPEM}
	if caErr == nil && now.Before(ca.Cert.NotAfter) {
		s.Data[KeyPreviousCA] = ca.CertPEM
	}
	m.Log.Info("renewing the webhook CA", "secret", m.CASecretName, "notAfter", next.Cert.NotAfter, "previousInvalid", caErr)
	return next, m.caBundle(next, s.Data[KeyPreviousCA], now), updateOrRetry(m.Client.Update(ctx, s))
}

// caBundle is current CA + previous CA if it has not expired.
func (m *Manager) caBundle(ca *KeyPair, previous []byte, now time.Time) []byte {
	bundle := append([]byte{}, ca.CertPEM...)
	if prev, err := parseCerts(previous); err == nil && len(prev) == 1 && now.Before(prev[0].NotAfter) {
		bundle = append(bundle, previous...)
	}
	return bundle
}

// ensureServing returns the serving Secret, issuing a new certificate (signed by ca) when it is
// missing, invalid, not signed by an unexpired CA of bundle, not covering DNSNames, or due for
// renewal; a stale ca.crt alone is rewritten without a new certificate.
func (m *Manager) ensureServing(ctx context.Context, ca *KeyPair, bundle []byte) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := m.Client.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.SecretName}, s)
	missing := apierrors.IsNotFound(err)
	if err != nil && !missing {
		return nil, fmt.Errorf("reading secret %s/%s: %w", m.Namespace, m.SecretName, err)
	}
	if !missing {
		leaf, perr := pki.ParseKeyPair(s.Data[KeyTLSCert], s.Data[KeyTLSKey])
		if perr == nil && servingValid(leaf.Cert, unexpired(bundle, m.now()), m.DNSNames, m.now()) {
			if bytes.Equal(s.Data[KeyCACert], bundle) {
				return s, nil
			}
			// Only the bundle changed (a CA renewal): the certificate, signed by the previous CA,
			// which the new bundle still holds, stays until its own renewal. Sidecars and the API
			// server get the new bundle meanwhile, so none of them ever sees a certificate it
			// cannot verify yet.
			s.Data[KeyCACert] = bundle
			m.Log.Info("new CA bundle in the serving Secret; the certificate moves to the new CA at its renewal",
				"secret", m.SecretName, "renewAt", RenewAt(leaf.Cert))
			return s, updateOrRetry(m.Client.Update(ctx, s))
		}
	}
	leaf, err := pki.NewServing(ca, m.DNSNames, m.now(), m.lifetime(m.ServingLifetime, DefaultServingLifetime))
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{KeyTLSCert: leaf.CertPEM, KeyTLSKey: leaf.KeyPEM, KeyCACert: bundle}
	m.Log.Info("issuing the serving certificate", "secret", m.SecretName, "dnsNames", m.DNSNames, "notAfter", leaf.Cert.NotAfter)
	if missing {
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Name: m.SecretName, Labels: labels()},
			Type:       corev1.SecretTypeTLS, Data: data,
		}
		return s, createOrRetry(m.Client.Create(ctx, s))
	}
	s.Data = data
	return s, updateOrRetry(m.Client.Update(ctx, s))
}

// ensureCABundle writes bundle into every webhook of the MutatingWebhookConfiguration.
func (m *Manager) ensureCABundle(ctx context.Context, bundle []byte) error {
	if m.WebhookConfigName == "" {
		return nil
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := m.Client.Get(ctx, client.ObjectKey{Name: m.WebhookConfigName}, mwc); err != nil {
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", m.WebhookConfigName, err)
	}
	changed := false
	for i := range mwc.Webhooks {
		if !bytes.Equal(mwc.Webhooks[i].ClientConfig.CABundle, bundle) {
			mwc.Webhooks[i].ClientConfig.CABundle = bundle
			changed = true
		}
	}
	if !changed {
		return nil
	}
	m.Log.Info("writing caBundle", "mutatingWebhookConfiguration", m.WebhookConfigName)
	return updateOrRetry(m.Client.Update(ctx, mwc))
}

func (m *Manager) lifetime(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func labels() map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "elasti-webhook", "app.kubernetes.io/part-of": "elasti"}
}

func createOrRetry(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return errRetry
	}
	if err != nil {
		return fmt.Errorf("creating secret: %w", err)
	}
	return nil
}

func updateOrRetry(err error) error {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return errRetry
	}
	if err != nil {
		return fmt.Errorf("updating: %w", err)
	}
	return nil
}
