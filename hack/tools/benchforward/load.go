package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// round is what one proxy did in one measured round.
type round struct {
	Proxy    string
	Requests int64
	Errors   int64
	Elapsed  time.Duration
	CPU      time.Duration
	// Latencies of the requests answered while measuring, sorted.
	latencies []time.Duration
}

func (r round) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// CPUPerRequest is the proxy's CPU time per answered request.
func (r round) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// loadGen keeps conns HTTP/1.1 connections busy with one request after another. The request is
// a typical gateway GET; every response must be 200 with the upstream's body.
type loadGen struct {
	addr, host string
	conns      int

	measuring atomic.Bool
	done      atomic.Int64
	errors    atomic.Int64
	mu        sync.Mutex
	latencies []time.Duration
}

func (g *loadGen) request() []byte {
	return []byte("GET /api/orders?page=1 HTTP/1.1\r\nHost: " + g.host + "\r\nUser-Agent: elasti-bench-forward\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: 7f0c1a2e-bench\r\n\r\n")
}

// run loads the proxy until ctx is done.
func (g *loadGen) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range g.conns {
		wg.Go(func() { g.worker(ctx) })
	}
	wg.Wait()
}

func (g *loadGen) worker(ctx context.Context) {
	req := g.request()
	lat := make([]time.Duration, 0, 1<<16)
	defer func() {
		g.mu.Lock()
		g.latencies = append(g.latencies, lat...)
		g.mu.Unlock()
	}()
	for ctx.Err() == nil {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", g.addr)
		if err != nil {
			g.fail(ctx)
			continue
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		br := bufio.NewReader(conn)
		for ctx.Err() == nil {
			start := time.Now()
			if err := roundTrip(conn, br, req); err != nil {
				g.fail(ctx)
				break
			}
			if g.measuring.Load() {
				g.done.Add(1)
				lat = append(lat, time.Since(start))
			}
		}
		stop()
		conn.Close()
	}
}

// fail counts an error unless the round is over (closing the connections ends requests).
func (g *loadGen) fail(ctx context.Context) {
	if ctx.Err() == nil && g.measuring.Load() {
		g.errors.Add(1)
	}
}

func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) error {
	if _, err := conn.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	_, err = io.Copy(&body, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body.Bytes(), upstreamBody) || resp.Close {
		return fmt.Errorf("status %d, %d bytes, close %v", resp.StatusCode, body.Len(), resp.Close)
	}
	return nil
}

// measureRound loads p for warmup, then measures requests, errors, latencies and p's CPU over d.
func measureRound(ctx context.Context, p *proxyProc, conns int, warmup, d time.Duration) (round, error) {
	g := &loadGen{addr: p.addr, host: p.host, conns: conns}
	loadCtx, stop := context.WithCancel(ctx)
	finished := make(chan struct{})
	go func() { g.run(loadCtx); close(finished) }()
	defer func() { stop(); <-finished }()
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return round{}, ctx.Err()
	}
	pids, err := p.pids()
	if err != nil {
		return round{}, err
	}
	cpu0, err := cpuOf(pids)
	if err != nil {
		return round{}, err
	}
	start := time.Now()
	g.measuring.Store(true)
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return round{}, ctx.Err()
	}
	g.measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, err := cpuOf(pids)
	if err != nil {
		return round{}, err
	}
	stop()
	<-finished
	slices.Sort(g.latencies)
	return round{Proxy: p.name, Requests: g.done.Load(), Errors: g.errors.Load(), Elapsed: elapsed, CPU: cpu1 - cpu0,
		latencies: g.latencies}, nil
}
