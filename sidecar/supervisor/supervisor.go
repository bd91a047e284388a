// Package supervisor keeps the resolver process running inside its container.
//
// The resolver runs as a native sidecar, and a native sidecar's readiness counts toward its pod's:
// if the resolver process died and the container with it, the gateway pod would turn NotReady and
// its own Service would refuse connections until the kubelet restarted the container. So the
// container's first process is a small supervisor (the same binary): it starts the resolver as
// its child, forwards SIGTERM and SIGINT to it, and when the child ends without having been told
// to, starts it again at once (then with a growing delay while it keeps failing). The container,
// and so the gateway pod, stays up; what the child held is lost, and the operator takes the
// sidecar out of every proxy slice as soon as its stream ends (operator/internal/acks).
package supervisor

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// EnvChild is set in the child's environment: a process that sees it is the supervised resolver.
const EnvChild = "ELASTI_RESOLVER_SUPERVISED"

// Options of Run.
type Options struct {
	// Path and Args of the child (Args without the program name).
	Path string
	Args []string
	// Env of the child; EnvChild=1 is added.
	Env            []string
	Stdout, Stderr io.Writer
	// MinBackoff is the delay before a restart after a short run, doubled on each short run up
	// to MaxBackoff. A child that ran StableAfter or longer is restarted at once.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	Log                                 logr.Logger
}

func (o *Options) defaults() {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.StableAfter <= 0 {
		o.StableAfter = 10 * time.Second
	}
}

// Run starts the child and keeps it running until a signal arrives on signals; then it forwards
// the signal, waits for the child and returns its exit code. A child that cannot be started at
// all is retried like one that exited.
func Run(signals <-chan os.Signal, o Options) int {
	o.defaults()
	backoff := o.MinBackoff
	for restarts := 0; ; restarts++ {
		started := time.Now()
		cmd := exec.Command(o.Path, o.Args...)
		cmd.Env = append(append([]string{}, o.Env...), EnvChild+"=1")
		cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			o.Log.Error(err, "starting the resolver")
		} else {
			if restarts > 0 {
				o.Log.Info("resolver restarted", "pid", cmd.Process.Pid, "restarts", restarts)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if code, stop := wait(cmd, done, signals); stop {
				return code
			}
		}
		ran := time.Since(started)
		delay := time.Duration(0)
		if ran < o.StableAfter {
			delay = backoff
			backoff = min(2*backoff, o.MaxBackoff)
		} else {
			backoff = o.MinBackoff
		}
		o.Log.Info("resolver ended without being asked to; restarting it (the container and its pod stay up)",
			"state", describe(cmd), "ran", ran.Round(time.Millisecond), "in", delay)
		select {
		case sig := <-signals:
			o.Log.Info("signal while the resolver was down; exiting", "signal", sig)
			return 0
		case <-time.After(delay):
		}
	}
}

// wait waits for the child. A signal is forwarded and ends the supervision: stop is true and
// code is the child's exit code. Otherwise the child ended by itself: stop is false.
func wait(cmd *exec.Cmd, done <-chan error, signals <-chan os.Signal) (code int, stop bool) {
	for {
		select {
		case sig := <-signals:
			_ = cmd.Process.Signal(sig)
			for {
				select {
				case err := <-done:
					return exitCode(err), true
				case sig := <-signals: // a second signal is forwarded too
					_ = cmd.Process.Signal(sig)
				}
			}
		case <-done:
			return 0, false
		}
	}
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

func describe(cmd *exec.Cmd) string {
	if cmd.ProcessState == nil {
		return "not started"
	}
	return cmd.ProcessState.String()
}
