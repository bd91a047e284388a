package sidecar

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

// BenchmarkForwardSidecarPort is the forward path a gateway's request takes while a quiet
// service is observed in proxy mode: the whole sidecar (its server settings, the port's bound
// handler, metrics, activity reports) forwarding at once to a ready pod. The client keeps its
// connections alive and sends a typical gateway GET; conns connections run at once. Client and
// upstream share the process, so ns/op, cpu-ns/op (the process's CPU time per request, steadier
// than wall time on a shared machine) and allocs/op include their share: compare runs with
// benchstat, and see make bench-forward for the sidecar's own CPU against nginx.
func BenchmarkForwardSidecarPort(b *testing.B) {
	body := bytes.Repeat([]byte("elasti-bench\n"), 10)
	tg := newTarget(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	if err := tg.start(); err != nil {
		b.Fatal(err)
	}
	port := freePort(b)
	svc := service(tg, true)
	svc.Ports[0].SidecarPort = port
	op := stuboperator.Start(testToken, svc)
	b.Cleanup(op.Close)
	startSidecar(b, testConfig(b, op))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	req := []byte("GET /api/orders?page=1 HTTP/1.1\r\nHost: orders.shop.svc.cluster.local\r\nUser-Agent: bench\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: 7f0c1a2e-bench\r\n\r\n")
	for _, conns := range []int{1, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			clients := make(chan *rawClient, conns)
			for range conns {
				c, err := dialRaw(addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.conn.Close()
				clients <- c
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			var wg sync.WaitGroup
			work := make(chan struct{}, 1024)
			var failed error
			var once sync.Once
			for range conns {
				c := <-clients
				wg.Go(func() {
					for range work {
						if err := c.do(req, body); err != nil {
							once.Do(func() { failed = err })
						}
					}
				})
			}
			for b.Loop() {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			if failed != nil {
				b.Fatal(failed)
			}
		})
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawClient is one kept-alive HTTP/1.1 connection, cheaper than http.Client so that the figures
// are more the sidecar's.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	buf  bytes.Buffer
}

func dialRaw(addr string) (*rawClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawClient{conn: c, br: bufio.NewReader(c)}, nil
}

func (c *rawClient) do(req, want []byte) error {
	if _, err := c.conn.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	c.buf.Reset()
	_, err = io.Copy(&c.buf, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(c.buf.Bytes(), want) {
		return fmt.Errorf("status %d, body %q", resp.StatusCode, c.buf.Bytes())
	}
	return nil
}
