package apiwait

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

var fast = Backoff{First: time.Millisecond, Max: 5 * time.Millisecond}

// apiServer answers /version with status (from statuses, in turn; the last one repeats).
func apiServer(t *testing.T, tls bool, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		status := statuses[min(n, len(statuses)-1)]
		if r.URL.Path != "/version" {
			status = http.StatusNotFound
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.1"}`))
		}
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes of the certificate case
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestVersion(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		statuses  []int
		timeout   time.Duration
		wantErr   string
		wantCalls int32 // 0: any number above 1
	}{
		{name: "answers at once", statuses: []int{200}, timeout: time.Second, wantCalls: 1},
		{name: "503 while restarting, then answers", statuses: []int{503, 503, 500, 429, 200}, timeout: 10 * time.Second, wantCalls: 5},
		{name: "never answers: gives up after the timeout", statuses: []int{503}, timeout: 50 * time.Millisecond,
			wantErr: "did not answer within 50ms"},
		{name: "401 is not retried", statuses: []int{401}, timeout: 10 * time.Second, wantErr: "provide credentials", wantCalls: 1},
		{name: "403 is not retried", statuses: []int{403}, timeout: 10 * time.Second, wantErr: "asking the API server at", wantCalls: 1},
		// The client does not trust httptest's certificate: waiting cannot fix that.
		{name: "a certificate that does not verify is not retried", tls: true, statuses: []int{200}, timeout: 10 * time.Second,
			wantErr: "certificate", wantCalls: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := apiServer(t, tt.tls, tt.statuses...)
			start := time.Now()
			v, err := Version(context.Background(), &rest.Config{Host: srv.URL}, tt.timeout, fast, logr.Discard())
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Less(t, time.Since(start), tt.timeout+5*time.Second, "returned long after its timeout")
			} else {
				require.NoError(t, err)
				assert.Equal(t, "v1.37.1", v.GitVersion)
			}
			switch {
			case tt.wantCalls > 0:
				assert.Equal(t, tt.wantCalls, calls.Load())
			case tt.wantCalls == 0:
				assert.Greater(t, calls.Load(), int32(1))
			}
		})
	}
}

func TestVersionRetriesRefusedConnections(t *testing.T) {
	srv, _ := apiServer(t, false, 200)
	host := srv.URL
	srv.Close() // nothing listens there now
	_, err := Version(context.Background(), &rest.Config{Host: host}, 30*time.Millisecond, fast, logr.Discard())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not answer within")
	assert.Contains(t, err.Error(), "connection refused")
}

func TestVersionStopsWithItsContext(t *testing.T) {
	srv, _ := apiServer(t, false, 503)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Version(ctx, &rest.Config{Host: srv.URL}, time.Minute, Backoff{First: time.Second, Max: time.Second}, logr.Discard())
	require.ErrorIs(t, err, context.Canceled)
}
