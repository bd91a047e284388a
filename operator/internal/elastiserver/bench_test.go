package elastiserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/elasti-dev/elasti/pkg/stream"
)

// BenchmarkIncomingRequest is the wake-up hot path with authentication and the scale-up faked:
// decode, look up, rate limit, activity throttle, answer.
func BenchmarkIncomingRequest(b *testing.B) {
	f := newFixture(b, elastiService("shop", "orders", "orders"), gatewayPod("gw-1"))
	f.srv.limiter = newLimiter(rate.Inf, 1, f.clock.Now)
	h := f.srv.Handler()
	const body = `{"count":1,"svc":"orders","namespace":"shop"}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, stream.IncomingRequestPath, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer gw-1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("code %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkStateFanOut is one change marked on 1000 connected streams.
func BenchmarkStateFanOut(b *testing.B) {
	st := newState()
	for range 1000 {
		st.subscribe()
	}
	svcs := make([]*stream.Service, 16)
	for i := range svcs {
		svcs[i] = svc("shop", "orders", fmt.Sprint(i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		st.set("shop/orders", svcs[i%len(svcs)])
		i++
	}
}
