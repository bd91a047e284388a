package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node gives the fault scenarios access to the processes of the node the suite runs on: the
// local cluster's control plane (by the pid files under its state directory) and containers (by
// their cgroup). It needs root on the node.
type Node struct {
	// StateDir is the local cluster's state directory ("" when there is none).
	StateDir string
}

// PidFile finds "<component>.pid" under the state directory.
func (n Node) PidFile(component string) (string, error) {
	if n.StateDir == "" {
		return "", fmt.Errorf("no local cluster state directory (set E2E_LOCAL_CLUSTER_DIR)")
	}
	var found string
	err := filepath.WalkDir(n.StateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // unreadable parts of the tree are skipped
		}
		if d.IsDir() && strings.Count(strings.TrimPrefix(p, n.StateDir), "/") > 2 {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == component+".pid" {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil || found == "" {
		return "", fmt.Errorf("no %s.pid under %s: is the local cluster (hack/cluster) running?", component, n.StateDir)
	}
	return found, nil
}

// ReadPid reads a pid file and checks that the process is alive.
func ReadPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	if !alive(pid) {
		return 0, fmt.Errorf("process %d of %s is not running", pid, path)
	}
	return pid, nil
}

// alive reports whether pid runs (a zombie counts as stopped).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	return !bytes.Contains(b, []byte("\nState:\tZ"))
}

// RestartProcess stops a control-plane process found by its pid file (SIGTERM, then SIGKILL after
// 15 s) and starts it again with the same command line, environment, working directory and log
// file, in its own session, writing the new pid into the same pid file. down is how long it stays
// stopped. It returns the new pid.
func (n Node) RestartProcess(ctx context.Context, component string, down time.Duration) (int, error) {
	pidFile, err := n.PidFile(component)
	if err != nil {
		return 0, err
	}
	pid, err := ReadPid(pidFile)
	if err != nil {
		return 0, err
	}
	argv, env, dir, logPath, err := processImage(pid)
	if err != nil {
		return 0, err
	}
	if err := stop(ctx, pid); err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(down):
	}
	return start(argv, env, dir, logPath, pidFile)
}

func processImage(pid int) (argv, env []string, dir, logPath string, err error) {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("reading command line of %d: %w", pid, err)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("reading environment of %d: %w", pid, err)
	}
	dir, _ = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	logPath, _ = os.Readlink(fmt.Sprintf("/proc/%d/fd/2", pid))
	argv = splitNUL(cmdline)
	if len(argv) == 0 {
		return nil, nil, "", "", fmt.Errorf("process %d has an empty command line", pid)
	}
	return argv, splitNUL(environ), dir, logPath, nil
}

func splitNUL(b []byte) []string {
	var out []string
	for _, s := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
		if len(s) > 0 {
			out = append(out, string(s))
		}
	}
	return out
}

func stop(ctx context.Context, pid int) error {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopping %d: %w", pid, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func start(argv, env []string, dir, logPath, pidFile string) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	if logPath != "" && strings.HasPrefix(logPath, "/") && !strings.HasPrefix(logPath, "/dev/") {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return 0, fmt.Errorf("opening log %s: %w", logPath, err)
		}
		defer func() { _ = f.Close() }()
		cmd.Stdout, cmd.Stderr = f, f
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }() // reap it if it exits while the suite still runs
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return pid, fmt.Errorf("writing %s: %w", pidFile, err)
	}
	return pid, nil
}

// KillContainer sends SIGKILL to every process of a container, found by the container ID in
// /proc/*/cgroup (the kubelet then restarts the container). containerID may carry the
// "containerd://" prefix of a pod's status. It returns how many processes were killed.
func KillContainer(containerID string) (int, error) {
	if i := strings.Index(containerID, "://"); i >= 0 {
		containerID = containerID[i+3:]
	}
	if len(containerID) < 12 {
		return 0, fmt.Errorf("container id %q is too short", containerID)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("listing /proc: %w", err)
	}
	killed := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil || !bytes.Contains(cg, []byte(containerID)) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil || errors.Is(err, syscall.ESRCH) {
			killed++
		}
	}
	if killed == 0 {
		return 0, fmt.Errorf("no process of container %s on this node (is the suite running on the node, as root?)", containerID)
	}
	return killed, nil
}

// ContainerProcesses returns the pids of a container's processes (see KillContainer).
func ContainerProcesses(containerID string) []int {
	if i := strings.Index(containerID, "://"); i >= 0 {
		containerID = containerID[i+3:]
	}
	procs, _ := os.ReadDir("/proc")
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err == nil && bytes.Contains(cg, []byte(containerID)) {
			out = append(out, pid)
		}
	}
	return out
}

// RSS returns a process's resident set size in bytes (VmRSS).
func RSS(pid int) (int64, error) { return statusField(pid, "VmRSS") }

// RSSAnon returns a process's resident anonymous memory (RssAnon) in bytes: what it holds of
// its own, without the file pages (its binary) it may share with another process.
func RSSAnon(pid int) (int64, error) { return statusField(pid, "RssAnon") }

// statusField reads a "<field>: <n> kB" line of /proc/<pid>/status, in bytes.
func statusField(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field+":")), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("parsing %q: %w", line, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s for %d", field, pid)
}

// ResolverChild returns the pid of the resolver process in a sidecar container: the supervisor's
// child, marked by ELASTI_RESOLVER_SUPERVISED=1 in its environment (sidecar/supervisor).
func ResolverChild(containerID string) (int, error) {
	for _, pid := range ContainerProcesses(containerID) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == "ELASTI_RESOLVER_SUPERVISED=1" {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no supervised resolver process in container %s", containerID)
}
