package bench

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// RSS is the resident set of one container, in MiB.
type RSS struct {
	Pod       string  `json:"pod"`
	Container string  `json:"container"`
	MiB       float64 `json:"mib"`
	Error     string  `json:"error,omitempty"`
}

// Memory holds the RSS readings.
type Memory struct {
	SidecarIdle      []RSS `json:"sidecarIdle"`
	SidecarAfterLoad []RSS `json:"sidecarAfterLoad"`
	Operator         []RSS `json:"operator"`
}

// containerRSS is the resident memory of a container's processes, found by its cgroup on this
// node: the largest process's VmRSS plus the others' anonymous memory (RssAnon). The sidecar
// container runs the resolver under a supervisor started from the same binary; summing both
// VmRSS would count the binary's shared pages twice.
func containerRSS(p *corev1.Pod, container string) RSS {
	out := RSS{Pod: p.Namespace + "/" + p.Name, Container: container}
	var id string
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if s.Name == container {
			id = s.ContainerID
		}
	}
	if id == "" {
		out.Error = "container not running"
		return out
	}
	pids := framework.ContainerProcesses(id)
	if len(pids) == 0 {
		out.Error = "no process visible from here (run on the node, as root)"
		return out
	}
	var anonSum, largest, largestAnon int64
	for _, pid := range pids {
		rss, err := framework.RSS(pid)
		if err != nil {
			out.Error = err.Error()
			return out
		}
		anon, err := framework.RSSAnon(pid)
		if err != nil {
			out.Error = err.Error()
			return out
		}
		anonSum += anon
		if rss > largest {
			largest, largestAnon = rss, anon
		}
	}
	total := anonSum - largestAnon + largest
	out.MiB = round3(float64(total) / (1 << 20))
	return out
}

// sidecarRSS reads the sidecar of every pod of the gateway.
func (b *bencher) sidecarRSS(ctx context.Context) []RSS {
	pods, err := b.ns.GatewayPods(ctx, "gateway")
	if err != nil {
		return []RSS{{Error: err.Error()}}
	}
	var out []RSS
	for _, p := range pods {
		out = append(out, containerRSS(&p, names.SidecarContainerName))
	}
	return out
}

// operatorRSS reads every operator pod's containers.
func (b *bencher) operatorRSS(ctx context.Context) []RSS {
	ns := b.env.Config.SystemNamespace
	pods, err := b.env.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []RSS{{Error: fmt.Sprintf("listing %s: %v", ns, err)}}
	}
	var out []RSS
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Name, names.OperatorServiceName+"-") {
			continue
		}
		for _, c := range p.Spec.Containers {
			out = append(out, containerRSS(&p, c.Name))
		}
	}
	return out
}
