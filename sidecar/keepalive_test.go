package sidecar

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

// TestServeModeEndsKeptAliveConnections: a gateway's keep-alive connection to a sidecar port
// (HTTP/1.1 or h2c) carries requests as long as the service is in proxy mode. After the switch
// back to serve, the next request on it is answered normally and ends the connection
// (HTTP/1 `Connection: close`, HTTP/2 GOAWAY), so the request after it opens a new connection,
// which kube-proxy sends to a pod.
func TestServeModeEndsKeptAliveConnections(t *testing.T) {
	for _, tc := range []struct {
		name string
		h2c  bool
	}{{name: "HTTP/1.1"}, {name: "h2c", h2c: true}} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, echo())
			require.NoError(t, tg.start())
			svc := service(tg, true)
			port := freePort(t)
			svc.Ports[0].SidecarPort = port
			op := stuboperator.Start(testToken, svc)
			defer op.Close()
			s := startSidecar(t, testConfig(t, op))
			require.Eventually(t, func() bool { return len(s.SidecarPorts()) == 1 }, 5*time.Second, 5*time.Millisecond)

			tr := &http.Transport{Protocols: new(http.Protocols)}
			if tc.h2c {
				tr.Protocols.SetUnencryptedHTTP2(true)
			} else {
				tr.Protocols.SetHTTP1(true)
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			// send returns the local address of the connection the request went on, and whether
			// the response ended the connection.
			send := func() (string, bool) {
				var local string
				trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
				ctx := httptrace.WithClientTrace(context.Background(), trace)
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(int(port))+"/", nil)
				require.NoError(t, err)
				req.Host = "shop.example.test"
				resp, err := client.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				_, err = io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.StatusCode)
				return local, resp.Close
			}

			first, closed := send()
			assert.False(t, closed, "proxy mode keeps the connection")
			again, closed := send()
			assert.Equal(t, first, again, "proxy mode: the same connection")
			assert.False(t, closed)

			svc.Mode = stream.ModeServe
			op.SetService(svc)
			require.Eventually(t, func() bool { got, _ := s.reg.Get("shop/orders"); return got.Mode == stream.ModeServe }, 5*time.Second, time.Millisecond)

			last, closed := send()
			assert.Equal(t, first, last, "the next request still goes on the kept connection and is answered")
			if !tc.h2c {
				assert.True(t, closed, "HTTP/1: the response says Connection: close")
			}
			next, _ := send()
			assert.NotEqual(t, first, next, "the request after it opens a new connection")
		})
	}
}
