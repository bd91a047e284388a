package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

// upstreamBody is what the upstream answers: small, so that the figures are the proxies' cost
// per request rather than per byte.
var upstreamBody = bytes.Repeat([]byte("elasti-bench\n"), 10)

type upstream struct {
	srv  *http.Server
	port int
}

// startUpstream serves upstreamBody on a free loopback port, in this process.
func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	length := strconv.Itoa(len(upstreamBody))
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(upstreamBody)
	})}
	go func() { _ = srv.Serve(ln) }()
	return &upstream{srv: srv, port: ln.Addr().(*net.TCPAddr).Port}, nil
}

func (u *upstream) Close() { _ = u.srv.Close() }

// proxyProc is one proxy under test: where to send requests, and the processes whose CPU counts.
type proxyProc struct {
	name string
	addr string // host:port the load generator connects to
	host string // Host header sent
	pids func() ([]int, error)
}

// child is a started process with a pid file.
type child struct {
	cmd     *exec.Cmd
	pidFile string
	exited  chan struct{}
}

func startChild(cmd *exec.Cmd, pidFile, logFile string) (*child, error) {
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	c := &child{cmd: cmd, pidFile: pidFile, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(c.exited) }()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		c.stop(syscall.SIGKILL)
		return nil, err
	}
	return c, nil
}

// stop sends sig to the process by its pid, waits up to 10 s (then kills it) and removes the pid
// file.
func (c *child) stop(sig syscall.Signal) {
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	_ = os.Remove(c.pidFile)
}

type sidecarProc struct {
	*proxyProc
	child *child
	op    *stuboperator.Operator
}

const token = "bench-forward"

// The proxies' names in the figures.
const (
	sidecarName  = "sidecar"
	baselineName = "baseline"
	nginxName    = "nginx"
)

// startSidecar runs the sidecar binary against a stub operator that lists one service in proxy
// mode whose only endpoint (the upstream) is ready, and waits until its sidecar port answers.
func startSidecar(ctx context.Context, o options, name, binary string, upstreamPort int) (*sidecarProc, error) {
	sidecarPort, err := freePort()
	if err != nil {
		return nil, err
	}
	svc := stream.Service{Namespace: "shop", Name: "orders", Mode: stream.ModeProxy,
		Ports:     []stream.Port{{Name: "http", Port: 80, Protocol: "TCP", SidecarPort: int32(sidecarPort)}},
		Endpoints: []stream.Endpoint{{Pod: "orders-0", IP: "127.0.0.1", Ready: true, Ports: map[string]int32{"http": int32(upstreamPort)}}}}
	op := stuboperator.Start(token, svc)
	dir := filepath.Join(o.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		op.Close()
		return nil, err
	}
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.pem")
	if err := errors.Join(os.WriteFile(tokenFile, []byte(token), 0o600), os.WriteFile(caFile, op.CAPEM(), 0o600)); err != nil {
		op.Close()
		return nil, err
	}
	proxyPort, err1 := freePort()
	adminPort, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		op.Close()
		return nil, err
	}
	// --supervise=false: the measured pid is the resolver itself (the supervisor would be an
	// idle parent).
	cmd := exec.Command(binary, "--supervise=false", "--operator-url="+op.URL(), "--token-file="+tokenFile,
		"--ca-file="+caFile, "--bind-address=127.0.0.1", "--proxy-port="+strconv.Itoa(proxyPort),
		"--admin-port="+strconv.Itoa(adminPort), "--shutdown-delay=0s")
	c, err := startChild(cmd, filepath.Join(o.work, name+".pid"), filepath.Join(dir, "sidecar.log"))
	if err != nil {
		op.Close()
		return nil, err
	}
	sp := &sidecarProc{child: c, op: op, proxyProc: &proxyProc{name: name, addr: fmt.Sprintf("127.0.0.1:%d", sidecarPort),
		host: "orders.shop.svc.cluster.local", pids: func() ([]int, error) { return []int{c.cmd.Process.Pid}, nil }}}
	if err := waitServing(ctx, sp.addr, sp.host, c.exited); err != nil {
		sp.Stop()
		return nil, fmt.Errorf("sidecar (log in %s): %w", dir, err)
	}
	return sp, nil
}

// Stop ends the sidecar (SIGTERM: it drains, with nothing held) and the stub operator.
func (s *sidecarProc) Stop() {
	s.child.stop(syscall.SIGTERM)
	s.op.Close()
}

type nginxProc struct {
	*proxyProc
	child   *child
	version string
}

// nginxConf compares like with like: one worker process (see docs/benchmarks.md), keep-alive to
// the client and to the upstream, responses streamed as they come (proxy_buffering off, as the
// sidecar flushes at once), no access log (the sidecar logs no request either), Host kept and
// X-Forwarded-* set as the sidecar does. keepalive_requests is raised on both sides: nginx
// otherwise closes a connection after 1,000 requests, which the sidecar never does.
var nginxConf = template.Must(template.New("nginx").Parse(`# Written by hack/tools/benchforward; nothing here touches a system nginx.
daemon off;
master_process on;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path {{.Dir}}/tmp/body;
  proxy_temp_path {{.Dir}}/tmp/proxy;
  fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
  uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
  scgi_temp_path {{.Dir}}/tmp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  upstream target {
    server 127.0.0.1:{{.Upstream}};
    keepalive 64;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:{{.Port}};
    location / {
      proxy_pass http://target;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
    }
  }
}
`))

// startNginx runs nginx in the foreground (daemon off, so it is our child and its master's pid
// is the one we started) with its own prefix, configuration, temp directories, error log and
// pid file under -work.
func startNginx(ctx context.Context, o options, upstreamPort int) (*nginxProc, error) {
	dir, err := filepath.Abs(filepath.Join(o.work, "nginx"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var conf bytes.Buffer
	if err := nginxConf.Execute(&conf, map[string]any{"Dir": dir, "Upstream": upstreamPort, "Port": port}); err != nil {
		return nil, err
	}
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, conf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	version, _ := exec.Command(o.nginx, "-v").CombinedOutput()
	// -e: nginx opens its error log before reading the configuration; without it, the compiled-in
	// path (/var/log/nginx/error.log) would be touched.
	cmd := exec.Command(o.nginx, "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"))
	c, err := startChild(cmd, filepath.Join(o.work, "nginx-master.pid"), filepath.Join(dir, "stdout.log"))
	if err != nil {
		return nil, err
	}
	master := c.cmd.Process.Pid
	np := &nginxProc{child: c, version: strings.TrimSpace(strings.TrimPrefix(string(version), "nginx version: ")),
		proxyProc: &proxyProc{name: nginxName, addr: fmt.Sprintf("127.0.0.1:%d", port), host: "orders.shop.svc.cluster.local",
			pids: func() ([]int, error) { return withChildren(master) }}}
	if err := waitServing(ctx, np.addr, np.host, c.exited); err != nil {
		np.Stop()
		return nil, fmt.Errorf("nginx (logs in %s): %w", dir, err)
	}
	return np, nil
}

// Stop ends nginx: SIGTERM to the master (fast shutdown; it stops its workers).
func (n *nginxProc) Stop() { n.child.stop(syscall.SIGTERM) }

// waitServing waits until a GET through addr answers the upstream's body.
func waitServing(ctx context.Context, addr, host string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Equal(body, upstreamBody) {
				return nil
			}
			err = fmt.Errorf("status %d, body %q", resp.StatusCode, body)
		}
		last = err
		select {
		case <-exited:
			return errors.New("exited before serving")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("not serving after 20s: %w", last)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
