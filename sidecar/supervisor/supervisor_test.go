package supervisor

import (
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary is its own child: with testChild set it plays the resolver, which crashes
// (SIGKILL to itself) on its first start and serves until SIGTERM on the next, then exits 3.
const testChild = "SUPERVISOR_TEST_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(testChild); dir != "" {
		runChild(dir)
		return
	}
	os.Exit(m.Run())
}

func runChild(dir string) {
	if os.Getenv(EnvChild) != "1" {
		os.Exit(97)
	}
	starts := filepath.Join(dir, "starts")
	b, _ := os.ReadFile(starts)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	n++
	_ = os.WriteFile(starts, []byte(strconv.Itoa(n)), 0o600)
	if n == 1 {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	_ = os.WriteFile(filepath.Join(dir, "serving"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	<-term
	os.Exit(3)
}

// TestRestartsACrashedChildAndForwardsSIGTERM: a child killed by a signal is started again at
// once; SIGTERM reaches the running child, and its exit code is the supervisor's.
func TestRestartsACrashedChildAndForwardsSIGTERM(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	require.NoError(t, err)
	signals := make(chan os.Signal, 1)
	result := make(chan int, 1)
	start := time.Now()
	go func() {
		result <- Run(signals, Options{
			Path: exe, Env: append(os.Environ(), testChild+"="+dir),
			Stdout: os.Stdout, Stderr: os.Stderr, Log: testr.New(t),
		})
	}()
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "serving"))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the crashed child was not restarted")
	t.Logf("crash to serving again: %s", time.Since(start))
	b, err := os.ReadFile(filepath.Join(dir, "starts"))
	require.NoError(t, err)
	assert.Equal(t, "2", string(b), "one crash, one restart")

	signals <- syscall.SIGTERM
	select {
	case code := <-result:
		assert.Equal(t, 3, code, "the child's exit code")
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor did not return after SIGTERM")
	}
}
