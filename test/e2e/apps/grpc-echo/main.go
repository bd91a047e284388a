// Command grpc-echo is the end-to-end suite's gRPC server: plaintext HTTP/2 (h2c) on --listen,
// serving the standard grpc.health.v1 Health service, so the suite can make a real unary gRPC call
// through Elasti without generated code of its own. It waits --startup-delay before listening, like
// the demo app, and reports the pod name in the Health response's trailer "pod".
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

func main() {
	addr := flag.String("listen", ":8080", "address to listen on")
	delay := flag.Duration("startup-delay", time.Second, "how long to wait before listening")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case <-ctx.Done():
		return
	case <-time.After(*delay):
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listening on %s: %v", *addr, err)
	}
	host, _ := os.Hostname()
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("pod", host))
		return h(ctx, req)
	}))
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	log.Printf("listening on %s", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	if err := srv.Serve(ln); err != nil {
		log.Fatalf("serving: %v", err)
	}
}
