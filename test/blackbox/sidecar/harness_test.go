//go:build blackbox

package sidecar

import (
	"bufio"
	"context"
	"fmt"

	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/internal/freeport"
	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

const token = "blackbox-token"

// process is the running sidecar binary.
type process struct {
	cmd   *exec.Cmd
	proxy string
	admin string
	exit  chan error
}

func freePort(t *testing.T) int {
	t.Helper()
	return freeport.Loopback(t)
}

// build compiles cmd/sidecar once per test binary run; TestMain removes it.
func build(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	require.NoError(t, err, "building cmd/sidecar")
	return bin
}

var buildDir string

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "elasti-blackbox-sidecar-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	out := filepath.Join(dir, "sidecar")
	cmd := exec.Command("go", "build", "-o", out, "github.com/elasti-dev/elasti/cmd/sidecar")
	cmd.Stderr = os.Stderr
	return out, cmd.Run()
})

// startBinary runs the sidecar against op and waits for /readyz.
func startBinary(t *testing.T, bin string, op *stuboperator.Operator, extra ...string) *process {
	t.Helper()
	dir := t.TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token), 0o600))
	require.NoError(t, os.WriteFile(caFile, op.CAPEM(), 0o600))
	pp, ap := freePort(t), freePort(t)
	// --supervise=false: the resolver is the started process itself, whose RSS the tests read by
	// pid (with supervision, that pid would be the small supervisor's).
	args := append([]string{"--supervise=false", "--operator-url=" + op.URL(), "--token-file=" + tokenFile, "--ca-file=" + caFile,
		"--bind-address=127.0.0.1", "--proxy-port=" + strconv.Itoa(pp), "--admin-port=" + strconv.Itoa(ap)}, extra...)
	cmd := exec.Command(bin, args...)
	logFile, err := os.Create(filepath.Join(dir, "sidecar.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, proxy: fmt.Sprintf("127.0.0.1:%d", pp), admin: fmt.Sprintf("127.0.0.1:%d", ap), exit: make(chan error, 1)}
	go func() { p.exit <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-p.exit
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("sidecar log:\n%s", b)
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "sidecar never became ready")
	return p
}

// rssKiB reads the process's resident set size.
func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// rssSampler records the peak RSS of pid until stopped.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak int64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if v := rssKiB(pid); v > 0 {
				s.mu.Lock()
				s.peak = max(s.peak, v)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *rssSampler) Stop() int64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// slowTarget starts serving only when told, on a port fixed in advance.
type slowTarget struct {
	addr string
	port int32
	srv  *http.Server
	once sync.Once
}

func newSlowTarget(t *testing.T, h http.Handler) *slowTarget {
	p := freePort(t)
	st := &slowTarget{addr: fmt.Sprintf("127.0.0.1:%d", p), port: int32(p), srv: &http.Server{Handler: h}}
	t.Cleanup(func() { _ = st.srv.Close() })
	return st
}

func (st *slowTarget) start() {
	st.once.Do(func() {
		ln, err := net.Listen("tcp", st.addr)
		if err != nil {
			panic(err)
		}
		go func() { _ = st.srv.Serve(ln) }()
	})
}

func service(name string, st *slowTarget, ready bool) stream.Service {
	return stream.Service{Namespace: "shop", Name: name, Mode: stream.ModeProxy,
		Ports:     []stream.Port{{Name: "http", Port: 80}},
		Endpoints: []stream.Endpoint{{Pod: name + "-0", IP: "127.0.0.1", Ready: ready, Ports: map[string]int32{"http": st.port}}}}
}

// metric reads one un-labelled or fully-labelled sample from /metrics.
func metric(t *testing.T, admin, prefix string) string {
	resp, err := http.Get("http://" + admin + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	s := bufio.NewScanner(resp.Body)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), prefix) {
			return strings.TrimSpace(strings.TrimPrefix(s.Text(), prefix))
		}
	}
	return ""
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
