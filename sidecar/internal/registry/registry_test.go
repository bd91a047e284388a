package registry

import (
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/hosts"
)

func svc(ns, name string, ips ...string) stream.Service {
	return stream.Service{Namespace: ns, Name: name, Mode: stream.ModeProxy, ClusterIPs: ips,
		Ports: []stream.Port{{Name: "http", Port: 80}}}
}

func TestLookup(t *testing.T) {
	var changed [][]string
	r := New("cluster.local", func(keys []string) { changed = append(changed, keys) })
	_, err := r.Apply(stream.Message{Type: stream.TypeUpdate, Version: 1})
	require.Error(t, err, "update before snapshot")
	assert.False(t, r.Synced())

	extra := svc("shop", "orders", "10.96.0.10", "fd00::10")
	extra.Hosts = []string{"orders.example.com"}
	keys, err := r.Apply(stream.Message{Type: stream.TypeSnapshot, Version: 1, Services: []stream.Service{
		extra, svc("shop", "cart"), svc("other", "cart"),
	}})
	require.NoError(t, err)
	assert.True(t, r.Synced())
	assert.Equal(t, []string{"other/cart", "shop/cart", "shop/orders"}, keys)

	tests := []struct {
		host    string
		want    string
		wantErr error
	}{
		{host: "orders", want: "shop/orders"},
		{host: "orders.shop:80", want: "shop/orders"},
		{host: "orders.shop.svc", want: "shop/orders"},
		{host: "ORDERS.shop.svc.cluster.local.", want: "shop/orders"},
		{host: "orders.example.com", want: "shop/orders"},
		{host: "10.96.0.10:80", want: "shop/orders"},
		{host: "[fd00::10]:80", want: "shop/orders"},
		{host: "cart.shop", want: "shop/cart"},
		{host: "cart", wantErr: ErrAmbiguousHost},
		{host: "orders.shop.svc.other.domain", wantErr: ErrUnknownHost},
		{host: "10.96.0.11", wantErr: ErrUnknownHost},
		{host: "example.com", wantErr: ErrUnknownHost},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			a, err := hosts.Parse(tt.host)
			require.NoError(t, err)
			s, err := r.Lookup(a)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Key)
		})
	}

	_, err = r.Apply(stream.Message{Type: stream.TypeUpdate, Version: 2, Removed: []string{"other/cart"}})
	require.NoError(t, err)
	s, err := r.Lookup(hosts.Authority{Name: "cart"})
	require.NoError(t, err)
	assert.Equal(t, "shop/cart", s.Key)
	assert.Equal(t, uint64(2), r.Version())
	assert.Equal(t, []string{"other/cart"}, changed[len(changed)-1])
	_, err = r.Lookup(hosts.Authority{IP: netip.MustParseAddr("fd00::10")})
	require.NoError(t, err)
}

func TestApplyRejects(t *testing.T) {
	r := New("", nil)
	_, err := r.Apply(stream.Message{Type: "bogus"})
	require.ErrorContains(t, err, "unknown message type")
	bad := svc("shop", "orders")
	bad.Mode = "sleep"
	_, err = r.Apply(stream.Message{Type: stream.TypeSnapshot, Services: []stream.Service{bad}})
	require.ErrorContains(t, err, `mode "sleep"`)
	assert.False(t, r.Synced())
}

func TestAnswering(t *testing.T) {
	r := New("", nil)
	s := svc("shop", "orders")
	s.Endpoints = []stream.Endpoint{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}}
	_, err := r.Apply(stream.Message{Type: stream.TypeSnapshot, Services: []stream.Service{s}})
	require.NoError(t, err)
	r.MarkAnswering("shop/orders", "10.0.0.1")
	r.MarkAnswering("shop/orders", "10.0.0.2")
	assert.True(t, r.Answering("shop/orders", "10.0.0.1"))

	// .1 becomes ready (mark no longer needed), .2 disappears.
	s.Endpoints = []stream.Endpoint{{IP: "10.0.0.1", Ready: true}}
	_, err = r.Apply(stream.Message{Type: stream.TypeUpdate, Version: 2, Services: []stream.Service{s}})
	require.NoError(t, err)
	assert.False(t, r.Answering("shop/orders", "10.0.0.1"))
	assert.False(t, r.Answering("shop/orders", "10.0.0.2"))
}

func TestPortSelection(t *testing.T) {
	s := &Service{Service: stream.Service{Ports: []stream.Port{{Name: "grpc", Port: 9090, AppProtocol: "grpc"}, {Name: "web", Port: 80}}}}
	tests := []struct {
		hostPort int
		want     string
	}{{0, "web"}, {80, "web"}, {9090, "grpc"}, {1234, "web"}}
	for _, tt := range tests {
		p, ok := s.Port(tt.hostPort)
		require.True(t, ok)
		assert.Equal(t, tt.want, p.Name, "host port %d", tt.hostPort)
	}
	s.Ports = s.Ports[:1]
	p, _ := s.Port(0)
	assert.Equal(t, "grpc", p.Name)
	assert.True(t, WantsH2C(p))

	n, ok := TargetPort(stream.Endpoint{Ports: map[string]int32{"grpc": 50051, "web": 8080}}, p)
	assert.True(t, ok)
	assert.Equal(t, int32(50051), n)
	n, ok = TargetPort(stream.Endpoint{Ports: map[string]int32{"": 8080}}, p)
	assert.True(t, ok)
	assert.Equal(t, int32(8080), n)
	_, ok = TargetPort(stream.Endpoint{Ports: map[string]int32{"a": 1, "b": 2}}, p)
	assert.False(t, ok)
}

func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"type":"snapshot","version":1,"services":[{"namespace":"shop","name":"orders","mode":"proxy","hosts":["orders.example.com"],"clusterIPs":["10.0.0.1","fd00::1"],"ports":[{"port":80}]}]}`),
		[]byte(`{"type":"update","version":2,"removed":["shop/orders"],"services":[{"namespace":"a","name":"b","mode":"serve","hosts":["x:y:z"],"clusterIPs":["bad"]}]}`),
		"orders.example.com")
	f.Fuzz(func(t *testing.T, first, second []byte, host string) {
		r := New("cluster.local", nil)
		for _, b := range [][]byte{first, second} {
			var msg stream.Message
			if json.Unmarshal(b, &msg) != nil {
				continue
			}
			keys, err := r.Apply(msg)
			if err != nil {
				continue
			}
			if !slices.IsSorted(keys) {
				t.Fatalf("keys not sorted: %v", keys)
			}
			for _, k := range keys {
				if s, ok := r.Get(k); !ok || s.Key != k {
					t.Fatalf("key %q listed but not found", k)
				}
			}
		}
		if a, err := hosts.Parse(host); err == nil {
			if s, err := r.Lookup(a); err == nil && s == nil {
				t.Fatalf("lookup of %q returned no service and no error", host)
			}
		}
	})
}

// TestLingering: a service that leaves the stream is listed by Lingering (its last view, in
// serve mode) for the duration asked, and not once it is back.
func TestLingering(t *testing.T) {
	r := New("cluster.local", nil)
	_, err := r.Apply(stream.Message{Type: stream.TypeSnapshot, Version: 1, Services: []stream.Service{svc("shop", "orders"), svc("shop", "cart")}})
	require.NoError(t, err)
	assert.Empty(t, r.Lingering(time.Minute))

	_, err = r.Apply(stream.Message{Type: stream.TypeUpdate, Version: 2, Removed: []string{"shop/orders"}})
	require.NoError(t, err)
	got := r.Lingering(time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "shop/orders", got[0].Key)
	assert.Equal(t, stream.ModeServe, got[0].Mode, "the last view, in serve mode")
	assert.Empty(t, r.Lingering(0), "not once the duration has passed")

	_, err = r.Apply(stream.Message{Type: stream.TypeUpdate, Version: 3, Services: []stream.Service{svc("shop", "orders")}})
	require.NoError(t, err)
	_, err = r.Apply(stream.Message{Type: stream.TypeUpdate, Version: 4, Removed: []string{"shop/cart"}})
	require.NoError(t, err)
	got = r.Lingering(time.Minute)
	require.Len(t, got, 1, "orders came back")
	assert.Equal(t, "shop/cart", got[0].Key)
}
