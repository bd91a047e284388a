// Command pause is the sandbox ("pause") container of Elasti's local cluster: it holds a pod's
// namespaces open and does nothing else. As PID 1 of the pod it reaps any child that is re-parented
// to it, and it exits on SIGINT or SIGTERM.
//
// A bare `select {}` is not enough: with no other goroutine the Go runtime aborts with "all
// goroutines are asleep", so the process blocks on a signal channel instead.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
