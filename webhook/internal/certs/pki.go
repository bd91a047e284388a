package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/elasti-dev/elasti/internal/pki"
)

// KeyPair is a certificate and its private key (pki.KeyPair).
type KeyPair = pki.KeyPair

// RenewAt is when a certificate should be replaced: at 2/3 of its lifetime.
func RenewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// servingValid reports whether leaf can keep serving: signed by one of cas, covering dnsNames,
// and not yet due for renewal.
func servingValid(leaf *x509.Certificate, cas []*x509.Certificate, dnsNames []string, now time.Time) bool {
	if now.After(RenewAt(leaf)) || !slices.ContainsFunc(cas, func(ca *x509.Certificate) bool { return leaf.CheckSignatureFrom(ca) == nil }) {
		return false
	}
	for _, n := range dnsNames {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	return true
}

// unexpired returns the certificates of a PEM bundle that are still valid at now (none if the
// bundle does not parse).
func unexpired(bundle []byte, now time.Time) []*x509.Certificate {
	certs, err := parseCerts(bundle)
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(certs, func(c *x509.Certificate) bool { return !now.Before(c.NotAfter) })
}

// parseCerts parses every CERTIFICATE block of a PEM bundle.
func parseCerts(bundle []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := bytes.TrimSpace(bundle); len(rest) > 0; rest = bytes.TrimSpace(rest) {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("trailing data that is not PEM")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing bundle certificate: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}
