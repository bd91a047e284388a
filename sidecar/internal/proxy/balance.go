package proxy

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// endpoint is where one request goes.
type endpoint struct {
	ip   string
	addr string // ip:port
	// h2c: the Service port declares cleartext HTTP/2.
	h2c bool
}

// balancer spreads requests round-robin over the endpoints that can serve.
type balancer struct {
	next sync.Map // key -> *atomic.Uint32
}

func (b *balancer) counter(key string) *atomic.Uint32 {
	if c, ok := b.next.Load(key); ok {
		return c.(*atomic.Uint32)
	}
	c, _ := b.next.LoadOrStore(key, new(atomic.Uint32))
	return c.(*atomic.Uint32)
}

// forget drops the counter of a service that left the stream.
func (b *balancer) forget(key string) { b.next.Delete(key) }

func addrOf(ip string, port int32) string {
	return net.JoinHostPort(ip, strconv.Itoa(int(port)))
}
