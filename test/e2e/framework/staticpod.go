package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StaticPodDir is where a kubeadm node (kind's included) keeps its static pod manifests.
const StaticPodDir = "/etc/kubernetes/manifests"

// StaticPodManifest returns the manifest of a control-plane component that runs as a static pod
// on this node (kind, kubeadm), or an error when there is none.
func StaticPodManifest(component string) (string, error) {
	p := filepath.Join(StaticPodDir, component+".yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no static pod manifest for %s on this node: %w", component, err)
	}
	return p, nil
}

// RestartStaticPod stops a static-pod component by moving its manifest out of the kubelet's
// manifest directory, waits until its process is gone and down has passed, and puts the manifest
// back; the kubelet then starts it again. It returns the pid of the new process. The suite must
// run on the node, as root (on kind: inside the node container).
func (n Node) RestartStaticPod(ctx context.Context, component string, down time.Duration) (int, error) {
	manifest, err := StaticPodManifest(component)
	if err != nil {
		return 0, err
	}
	old := processesNamed(component)
	parked := filepath.Join(filepath.Dir(StaticPodDir), "."+component+".yaml.e2e-parked")
	if err := os.Rename(manifest, parked); err != nil {
		return 0, fmt.Errorf("moving %s away: %w", manifest, err)
	}
	restore := func() error { return os.Rename(parked, manifest) }
	if err := Poll(ctx, 60*time.Second, 50*time.Millisecond, component+" to stop", func(context.Context) (bool, string, error) {
		left := 0
		for _, pid := range old {
			if alive(pid) {
				left++
			}
		}
		return left == 0, fmt.Sprintf("%d process(es) left", left), nil
	}); err != nil {
		_ = restore()
		return 0, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(down):
	}
	if err := restore(); err != nil {
		return 0, fmt.Errorf("putting %s back: %w", manifest, err)
	}
	var pid int
	err = Poll(ctx, 120*time.Second, 100*time.Millisecond, component+" to start again", func(context.Context) (bool, string, error) {
		for _, p := range processesNamed(component) {
			pid = p
			return true, "", nil
		}
		return false, "no process yet", nil
	})
	return pid, err
}

// processesNamed returns the pids whose command name (comm) is name.
func processesNamed(name string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// comm is truncated to 15 characters (kube-controller-manager -> kube-controller).
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(b)) == truncComm(name) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func truncComm(s string) string {
	if len(s) > 15 {
		return s[:15]
	}
	return s
}
