//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// TestWakeBurst: 1,000 concurrent requests through the gateway to a Service at zero, each on its
// own connection and never retried by the client, all answer 200 from the woken app; the Service
// is back in serve mode afterwards.
func TestWakeBurst(t *testing.T) {
	f := setup(t, "burst", 1)
	app := f.app(framework.AppOptions{Name: "app", StartupDelay: time.Second}, nil)
	f.toZero(app)
	start := time.Now()
	res := framework.Burst(f.ctx, f.gw.fresh, f.url(app, 0, "/"), 1000, framework.AppMessage("app"))
	step(t, start, "1000 concurrent requests: %s", res)
	if res.OK != 1000 {
		t.Fatalf("%d of 1000 requests answered 200: %s", res.OK, res)
	}
	st, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode after the wake-up", framework.InServeMode)
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "serve mode: %s", st)
}

// TestWakeToBurstSize: with spec.wakeBurst (50 requests per replica, at most 4), 300 requests at
// once at zero wake the target to its cap of 4 replicas, not minTargetReplicas, and every one is
// answered; at zero again, a single request wakes it to 1.
func TestWakeToBurstSize(t *testing.T) {
	f := setup(t, "wakesize", 1)
	app := f.app(framework.AppOptions{Name: "app", StartupDelay: 3 * time.Second}, func(es *elastiv1.ElastiService) {
		es.Spec.WakeBurst = &elastiv1.WakeBurst{RequestsPerReplica: 50, MaxReplicas: 4}
	})
	f.toZero(app)
	start := time.Now()
	res := framework.Burst(f.ctx, f.gw.fresh, f.url(app, 0, "/"), 300, framework.AppMessage("app"))
	step(t, start, "300 concurrent requests at zero: %s", res)
	if res.OK != 300 {
		t.Fatalf("%d of 300 requests answered 200: %s", res.OK, res)
	}
	st, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode with 4 replicas", func(s *framework.State) bool {
		return framework.InServeMode(s) && s.SpecReplicas == 4
	})
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "woken to the burst's size: %s", st)

	f.toZero(app)
	start = time.Now()
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	st, err = app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode", framework.InServeMode)
	if err != nil {
		t.Fatal(err)
	}
	if st.SpecReplicas != 1 {
		t.Fatalf("a single request woke the target to %d replicas, want 1: %s", st.SpecReplicas, st)
	}
	step(t, start, "a single request woke it to 1 replica: %s", st)
}

// TestWakeBodies: a 1 MiB request body sent to a Service at zero is held, delivered and echoed
// back byte for byte (1 MiB both ways).
func TestWakeBodies(t *testing.T) {
	f := setup(t, "bodies", 1)
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	body := make([]byte, 1<<20)
	_, _ = rand.Read(body)
	want := sha256.Sum256(body)
	r, err := framework.Do(f.ctx, f.gw.fresh, http.MethodPost, f.url(app, 0, "/echo"), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("POST 1 MiB: status %d body %.300q", r.Status, r.Body)
	}
	if got := sha256.Sum256([]byte(r.Body)); got != want || len(r.Body) != len(body) {
		t.Fatalf("echoed body: %d bytes sha256 %x, sent %d bytes sha256 %x", len(r.Body), got, len(body), want)
	}
	t.Logf("1 MiB echoed through a wake-up in %s (held %s)", r.Duration, framework.HeldFor(r.Header))
}

// TestWakeStream: a streamed response (text/event-stream, 6 events 400 ms apart) requested while
// the Service is at zero arrives event by event, not all at once at the end.
func TestWakeStream(t *testing.T) {
	f := setup(t, "stream", 1)
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, f.url(app, 0, "/stream?n=6&interval=400ms"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.gw.fresh.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %.300q", resp.StatusCode, b)
	}
	var arrivals []time.Time
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			arrivals = append(arrivals, time.Now())
		}
	}
	if len(arrivals) != 6 {
		t.Fatalf("received %d events, want 6 (scan error %v)", len(arrivals), sc.Err())
	}
	spread := arrivals[5].Sub(arrivals[0])
	t.Logf("6 events over %s", spread)
	// Sent over 2 s; a buffered response would deliver them within a few milliseconds.
	if spread < time.Second {
		t.Fatalf("the 6 events arrived within %s: the response was buffered, not streamed", spread)
	}
}

// TestWakeWebSocket: a WebSocket opened through the gateway to a Service at zero is upgraded once
// the app is up and echoes messages.
func TestWakeWebSocket(t *testing.T) {
	f := setup(t, "websocket", 1)
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(f.ctx, "tcp", f.gw.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	cfg, err := websocket.NewConfig(strings.Replace(f.url(app, 0, "/ws"), "http://", "ws://", 1), "http://e2e.local")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		t.Fatalf("WebSocket handshake through a wake-up: %v", err)
	}
	for i := range 3 {
		msg := fmt.Sprintf("ping %d", i)
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil {
			t.Fatal(err)
		}
		if got != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
}

// TestWakeGRPC: a unary gRPC call (grpc.health.v1.Health/Check over h2c) to the Service's
// ClusterIP while it is at zero reaches the woken gRPC server.
func TestWakeGRPC(t *testing.T) {
	f := setup(t, "grpc", 1)
	app := f.app(framework.AppOptions{
		Name: "grpc", Image: env.Config.GRPCImage, Args: []string{"--listen=:8080", "--startup-delay=1s"},
		AppProtocol: "kubernetes.io/h2c", TCPProbe: true,
	}, nil)
	f.toZero(app)
	svc, err := env.Kube.CoreV1().Services(f.ns.Name).Get(f.ctx, app.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(svc.Spec.ClusterIP, "80"),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(app.Name+"."+f.ns.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cc.Close() }()
	var trailer metadata.MD
	start := time.Now()
	resp, err := healthpb.NewHealthClient(cc).Check(f.ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	if err != nil {
		t.Fatalf("Health/Check through a wake-up: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %s, want SERVING", resp.GetStatus())
	}
	t.Logf("gRPC call answered by pod %v after %s", trailer.Get("pod"), time.Since(start))
}
