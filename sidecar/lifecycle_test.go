package sidecar

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

type result struct {
	status int
	err    error
}

func getAsync(s *Sidecar, host string) chan result {
	ch := make(chan result, 1)
	go func() {
		resp, _, err := get(context.Background(), s, host)
		if err != nil {
			ch <- result{err: err}
			return
		}
		ch <- result{status: resp.StatusCode}
	}()
	return ch
}

// TestStreamDropsAndComesBack: a held request survives the operator stream dropping; the
// readiness change made while disconnected arrives in the next snapshot.
func TestStreamDropsAndComesBack(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))

	held := getAsync(s, "orders.shop")
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	op.DropStreams()
	require.NoError(t, tg.start())
	op.SetService(service(tg, true)) // no stream is connected at this instant, or the update is raced by the new snapshot
	r := <-held
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.GreaterOrEqual(t, op.Connects(), 2)

	resp, err := http.Get("http://" + s.AdminAddr().String() + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "stays ready across reconnects")
}

// TestProbeForwardsBeforeTheOperatorSaysReady: the sidecar's own probe finds the pod answering
// and forwards without any push from the operator.
func TestProbeForwardsBeforeTheOperatorSaysReady(t *testing.T) {
	tg := newTarget(t, echo())
	svc := service(tg, false)
	svc.Probe = &stream.Probe{Type: stream.ProbeHTTP, Port: tg.port, Path: "/healthz"}
	op := stuboperator.Start(testToken, svc)
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))

	held := getAsync(s, "orders.shop")
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, tg.start())
	r := <-held
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.True(t, s.reg.Answering("shop/orders", "127.0.0.1"))
}

// TestProbeArrivingLaterIsUsed: the operator only learns the probe when the first pod exists;
// requests held before that are still woken by the sidecar's probe.
func TestProbeArrivingLaterIsUsed(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))

	held := getAsync(s, "orders.shop")
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	svc := service(tg, false)
	svc.Probe = &stream.Probe{Type: stream.ProbeTCP, Port: tg.port}
	op.SetService(svc)
	require.NoError(t, tg.start())
	r := <-held
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
}

// TestRefusedConnectionIsRetriedElsewhere: one of two ready endpoints refuses; every request
// still succeeds (nothing was sent to the dead one).
func TestRefusedConnectionIsRetriedElsewhere(t *testing.T) {
	live := newTarget(t, echo())
	require.NoError(t, live.start())
	dead := newTarget(t, echo())
	svc := service(live, true)
	svc.Endpoints = append(svc.Endpoints, stream.Endpoint{Pod: "orders-1", IP: "127.0.0.1", Ready: true, Ports: map[string]int32{"http": dead.port}})
	op := stuboperator.Start(testToken, svc)
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))
	for range 10 {
		// The body is not consumed by the refused attempt, so the retry carries all of it.
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.ProxyAddr().String()+"/", strings.NewReader("hello"))
		req.Host = "orders.shop"
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "POST orders.shop 5", string(body))
	}
}

// TestGracefulShutdownFinishesHeldRequests: SIGTERM (ctx cancel) while a request is held; it
// still completes once the target is up, and new connections are refused.
func TestGracefulShutdownFinishesHeldRequests(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	s, err := New(testConfig(t, op), discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, s.Start(ctx))
	require.Eventually(t, s.reg.Synced, 5*time.Second, time.Millisecond)

	held := getAsync(s, "orders.shop")
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.Eventually(t, func() bool {
		_, err := http.Get("http://" + s.ProxyAddr().String() + "/")
		return err != nil
	}, 5*time.Second, time.Millisecond, "stops accepting")
	require.NoError(t, tg.start())
	op.SetService(service(tg, true))
	r := <-held
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	require.NoError(t, s.Wait())
}

// TestDrainTimeoutAnswersHeldRequests: what is still held when the drain times out gets 503.
func TestDrainTimeoutAnswersHeldRequests(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	cfg := testConfig(t, op)
	cfg.DrainTimeout = 50 * time.Millisecond
	s, err := New(cfg, discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, s.Start(ctx))
	require.Eventually(t, s.reg.Synced, 5*time.Second, time.Millisecond)
	held := getAsync(s, "orders.shop")
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	r := <-held
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	require.NoError(t, s.Wait())
}
