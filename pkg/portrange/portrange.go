// Package portrange is the sidecar port range: the ports the operator allocates to Service ports
// (one each, unique in the cluster) and on which every resolver sidecar listens. The operator and
// the webhook (which refuses to inject into gateway pods that use a port in it) share it.
package portrange

import (
	"fmt"
	"strconv"
	"strings"
)

// Default is the default sidecar port range: above the ports gateways commonly use
// (80, 443, 8000-9999, Istio's 15000-15090), below Kubernetes' NodePort range (30000-32767) and
// Linux's ephemeral range (32768-60999), so that neither a gateway's own listeners nor its
// outgoing connections meet a sidecar port.
const Default = "20000-29999"

// Range is an inclusive range of ports.
type Range struct{ First, Last int32 }

// Parse parses "first-last" (inclusive, 1024 < first <= last <= 65535).
func Parse(s string) (Range, error) {
	lo, hi, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Range{}, fmt.Errorf("sidecar port range %q must be first-last, e.g. %s", s, Default)
	}
	first, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
	last, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 32)
	switch {
	case err1 != nil || err2 != nil:
		return Range{}, fmt.Errorf("sidecar port range %q must be two port numbers, e.g. %s", s, Default)
	case first <= 1024 || last > 65535 || first > last:
		return Range{}, fmt.Errorf("sidecar port range %q must satisfy 1024 < first <= last <= 65535", s)
	}
	return Range{First: int32(first), Last: int32(last)}, nil
}

// MustParse is Parse for constants; it panics on a bad range.
func MustParse(s string) Range {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

// Contains reports whether p is in the range.
func (r Range) Contains(p int32) bool { return p >= r.First && p <= r.Last }

// Size is the number of ports in the range.
func (r Range) Size() int { return int(r.Last-r.First) + 1 }

func (r Range) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }
