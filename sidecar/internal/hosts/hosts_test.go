package hosts

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Authority
		wantErr string
	}{
		{name: "short name", in: "orders", want: Authority{Name: "orders"}},
		{name: "short name with port", in: "orders:8080", want: Authority{Name: "orders", Port: 8080}},
		{name: "name.ns", in: "orders.shop", want: Authority{Name: "orders.shop"}},
		{name: "name.ns.svc", in: "orders.shop.svc:80", want: Authority{Name: "orders.shop.svc", Port: 80}},
		{name: "fqdn", in: "orders.shop.svc.cluster.local", want: Authority{Name: "orders.shop.svc.cluster.local"}},
		{name: "fqdn trailing dot and port", in: "orders.shop.svc.cluster.local.:443", want: Authority{Name: "orders.shop.svc.cluster.local", Port: 443}},
		{name: "upper case", in: "Orders.SHOP", want: Authority{Name: "orders.shop"}},
		{name: "ipv4", in: "10.96.0.10", want: Authority{IP: netip.MustParseAddr("10.96.0.10")}},
		{name: "ipv4 port", in: "10.96.0.10:8080", want: Authority{IP: netip.MustParseAddr("10.96.0.10"), Port: 8080}},
		{name: "ipv6 bracketed", in: "[fd00::10]", want: Authority{IP: netip.MustParseAddr("fd00::10")}},
		{name: "ipv6 bracketed port", in: "[fd00::10]:80", want: Authority{IP: netip.MustParseAddr("fd00::10"), Port: 80}},
		{name: "ipv6 bare", in: "fd00::10", want: Authority{IP: netip.MustParseAddr("fd00::10")}},
		{name: "ipv4-mapped ipv6", in: "[::ffff:10.0.0.1]", want: Authority{IP: netip.MustParseAddr("10.0.0.1")}},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "port zero", in: "orders:0", wantErr: "port"},
		{name: "port too big", in: "orders:65536", wantErr: "port"},
		{name: "port not a number", in: "orders:http", wantErr: "port"},
		{name: "empty port", in: "orders:", wantErr: "port"},
		{name: "empty label", in: "orders..shop", wantErr: "empty label"},
		{name: "leading dot", in: ".orders", wantErr: "empty label"},
		{name: "bad char", in: "orders/x", wantErr: "contains"},
		{name: "userinfo", in: "user@orders", wantErr: "contains"},
		{name: "long label", in: strings.Repeat("a", 64), wantErr: "longer than 63"},
		{name: "too long", in: strings.Repeat("a.", 140), wantErr: "longer than"},
		{name: "ipv6 unbracketed with port", in: "[fd00::1", wantErr: "missing ']'"},
		{name: "junk after bracket", in: "[fd00::1]x", wantErr: "unexpected text"},
		{name: "bracketed ipv4", in: "[10.0.0.1]", wantErr: "only IPv6"},
		{name: "zone", in: "[fe80::1%eth0]", wantErr: "zoned"},
		{name: "not an ip", in: "1:2:zz", wantErr: "not an IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrInvalid)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestAuthorityString(t *testing.T) {
	for _, in := range []string{"orders", "orders:81", "10.0.0.1:80", "[fd00::1]:80", "[fd00::1]"} {
		a, err := Parse(in)
		require.NoError(t, err)
		assert.Equal(t, in, a.String())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"orders", "orders.shop.svc.cluster.local.:80", "10.0.0.1:8080", "[fd00::1]:80", "fd00::1", "[", ":", "a:99999", "A.B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if a != (Authority{}) {
				t.Fatalf("error %v with non-zero result %+v", err, a)
			}
			return
		}
		if a.IsIP() == (a.Name != "") {
			t.Fatalf("%q: exactly one of Name and IP must be set: %+v", s, a)
		}
		if a.Port < 0 || a.Port > 65535 {
			t.Fatalf("%q: port out of range: %d", s, a.Port)
		}
		if a.Name != strings.ToLower(a.Name) || strings.HasSuffix(a.Name, ".") {
			t.Fatalf("%q: name not normalised: %q", s, a.Name)
		}
		// The formatted authority parses back to the same value.
		again, err := Parse(a.String())
		if err != nil || again != a {
			t.Fatalf("%q: round trip via %q gave %+v, %v", s, a.String(), again, err)
		}
	})
}
