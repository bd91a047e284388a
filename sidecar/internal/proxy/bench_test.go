package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkDirect is the baseline: a client talking to the upstream itself.
func BenchmarkDirect(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer up.Close()
	run(b, up.URL, "orders.shop")
}

// BenchmarkForward is the same request through the Handler (identify, pick, forward).
func BenchmarkForward(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer up.Close()
	h, _ := newHandler(b, ep("a", up.Listener.Addr().(*net.TCPAddr).Port, true))
	srv := httptest.NewServer(h)
	defer srv.Close()
	run(b, srv.URL, "orders.shop.svc.cluster.local")
}

func run(b *testing.B, url, host string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
	req.Host = host
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
