// Package freeport hands tests a loopback port that nothing listens on, for a server they start
// later. A port taken from the kernel with ":0" and released is back in the ephemeral range: the
// test's own outgoing connections can take it as their source port before the server binds it
// ("address already in use", seen in CI). Ports handed out here lie below the ephemeral range,
// which the kernel never picks by itself, and are never handed out twice in one process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// low is the first port handed out: above the well-known ports and those test tools like to use.
const low = 20000

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Loopback returns a port on 127.0.0.1 that is free now and lies outside the ephemeral range.
func Loopback(t testing.TB) int {
	t.Helper()
	high := ephemeralLow()
	if high <= low+100 {
		high = 32768
	}
	p, err := pick(low, high)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pick tries random ports of [from, to) until one binds.
func pick(from, to int) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		p := from + rand.IntN(to-from)
		if handed[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		handed[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port in [%d, %d) after 200 tries", from, to)
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux), 32768 where unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
