//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// leaseName is the operator's leader election Lease (its --leader-election-id).
const leaseName = "elasti-operator.elasti.dev"

// TestOperatorLeaderKilledDuringWake: requests wake a Service at zero; right after they are sent
// the operator leader's pod is killed (grace 0). Every request still answers 200, a new leader
// takes over and the Service returns to serve mode.
func TestOperatorLeaderKilledDuringWake(t *testing.T) {
	f := setup(t, "leader", 1)
	app := f.app(framework.AppOptions{Name: "app", StartupDelay: 3 * time.Second}, nil)
	f.toZero(app)
	leader := leaderPod(t, f.ctx)
	start := time.Now()
	done := make(chan *framework.BurstResult, 1)
	go func() {
		done <- framework.Burst(f.ctx, f.gw.fresh, f.url(app, 0, "/"), 50, framework.AppMessage("app"))
	}()
	time.Sleep(200 * time.Millisecond)
	zero := int64(0)
	if err := env.Kube.CoreV1().Pods(env.Config.SystemNamespace).Delete(f.ctx, leader, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("killing the leader %s: %v", leader, err)
	}
	step(t, start, "killed the leader %s during the wake-up", leader)
	// The kill must fall inside the wake-up: read after it, the target has no ready replica yet
	// and the Service is still in proxy mode (the app takes 3 s to start), so it had none at the kill.
	st, err := app.State(f.ctx)
	if err != nil {
		t.Fatalf("reading the state right after the kill: %v", err)
	}
	if st.ReadyReplicas != 0 || st.Mode != elastiv1.ModeProxy {
		t.Fatalf("the target was already awake when the leader was killed (%s): the kill did not fall inside the wake-up", st)
	}
	step(t, start, "right after the kill: %s", st)
	res := <-done
	step(t, start, "requests: %s", res)
	if res.OK != 50 {
		t.Errorf("%d of 50 requests answered 200 across the leader's death: %s", res.OK, res)
	}
	if _, err := app.WaitState(f.ctx, env.Config.Scale(90*time.Second), "serve mode under a new leader", framework.InServeMode); err != nil {
		t.Fatal(err)
	}
	step(t, start, "serve mode; new leader %s", leaderPod(t, f.ctx))
	waitPods(t, f.ctx, env.Config.SystemNamespace, "app.kubernetes.io/name=elasti-operator", 2)
}

// leaderPod returns the pod name holding the operator's Lease.
func leaderPod(t *testing.T, ctx context.Context) string {
	t.Helper()
	var holder string
	err := framework.Poll(ctx, env.Config.Scale(60*time.Second), 250*time.Millisecond, "an operator leader",
		func(ctx context.Context) (bool, string, error) {
			l, err := env.Kube.CoordinationV1().Leases(env.Config.SystemNamespace).Get(ctx, leaseName, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
				return false, "no holder", nil
			}
			holder, _, _ = strings.Cut(*l.Spec.HolderIdentity, "_")
			_, err = env.Kube.CoreV1().Pods(env.Config.SystemNamespace).Get(ctx, holder, metav1.GetOptions{})
			return err == nil, "holder " + holder, err
		})
	if err != nil {
		t.Fatal(err)
	}
	return holder
}

// TestSidecarRestartWhileHeld: two gateway pods, a Service at zero whose app takes 8 s to start.
// Requests are held by both sidecars (sent straight to each sidecar's proxy port, so it is known
// which holds what); then one sidecar container is killed. Its clients see a prompt, clean error
// (not a hang until the hold timeout); the other sidecar's clients all get 200; the gateway
// container beside the killed sidecar is not restarted; after the restart, requests through that
// gateway succeed again.
func TestSidecarRestartWhileHeld(t *testing.T) {
	f := setup(t, "sidecarkill", 2)
	app := f.app(framework.AppOptions{Name: "app", StartupDelay: 8 * time.Second}, nil)
	f.toZero(app)
	pods, err := f.ns.GatewayPods(f.ctx, "gateway")
	if err != nil || len(pods) < 2 {
		t.Fatalf("want 2 gateway pods: %v", err)
	}
	victim, other := pods[0], pods[1]
	sidecarID, gatewayRestarts := containerIDs(&victim)
	sidecarRestartsBefore := sidecarRestarts(&victim)
	if sidecarID == "" {
		t.Fatalf("pod %s has no running %s container", victim.Name, names.SidecarContainerName)
	}
	if len(framework.ContainerProcesses(sidecarID)) == 0 {
		framework.Skip(t, "the sidecar's processes are not visible from here (run the suite on the node, as root)")
	}
	url := f.url(app, 0, "/")
	start := time.Now()
	var wg sync.WaitGroup
	var victimRes, otherRes []outcome
	var mu sync.Mutex
	for i := range 20 {
		target := other
		if i%2 == 0 {
			target = victim
		}
		wg.Go(func() {
			o := timedGet(f.ctx, net.JoinHostPort(target.Status.PodIP, fmt.Sprint(names.DefaultProxyPort)), url)
			mu.Lock()
			defer mu.Unlock()
			if target.Name == victim.Name {
				victimRes = append(victimRes, o)
			} else {
				otherRes = append(otherRes, o)
			}
		})
	}
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	n, err := framework.KillContainer(sidecarID)
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "killed %d processes of the sidecar of %s while requests were held", n, victim.Name)
	wg.Wait()
	victimErrors := 0
	for _, o := range victimRes {
		if o.err == nil && o.status == http.StatusOK {
			continue // answered before the kill took effect: fine
		}
		victimErrors++
		if o.at.Sub(killedAt) > 10*time.Second {
			t.Errorf("a client of the killed sidecar waited %s after the kill (%s): not a prompt error", o.at.Sub(killedAt), o)
		}
	}
	if victimErrors == 0 {
		t.Errorf("every client of the killed sidecar got 200 (%v): the kill had no effect on the requests it held", victimRes)
	}
	for _, o := range otherRes {
		if o.err != nil || o.status != http.StatusOK {
			t.Errorf("a client of the other sidecar was affected: %s", o)
		}
	}
	step(t, start, "killed sidecar's clients: %v; other sidecar's clients: %v", victimRes, otherRes)
	waitPods(t, f.ctx, f.ns.Name, "e2e-gateway=gateway", 2)
	p, err := env.Kube.CoreV1().Pods(f.ns.Name).Get(f.ctx, victim.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, restarts := containerIDs(p); restarts != gatewayRestarts {
		t.Errorf("the gateway container beside the sidecar restarted (%d → %d restarts)", gatewayRestarts, restarts)
	}
	if after := sidecarRestarts(p); after <= sidecarRestartsBefore {
		t.Errorf("the killed sidecar's restart count did not grow (%d → %d): the kill had no effect", sidecarRestartsBefore, after)
	}
	f.toZero(app)
	c := framework.GatewayClient(net.JoinHostPort(victim.Status.PodIP, "8080"), false)
	res := framework.Burst(f.ctx, c, url, 20, framework.AppMessage("app"))
	if res.OK != 20 {
		t.Fatalf("after the sidecar restart, %d of 20 requests through its gateway succeeded: %s", res.OK, res)
	}
}

type outcome struct {
	status int
	err    error
	at     time.Time
}

func (o outcome) String() string {
	if o.err != nil {
		return fmt.Sprintf("error %v at %s", o.err, o.at.Format("15:04:05.000"))
	}
	return fmt.Sprintf("%d at %s", o.status, o.at.Format("15:04:05.000"))
}

func timedGet(ctx context.Context, addr, url string) outcome {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r, err := framework.Get(ctx, framework.GatewayClient(addr, false), url)
	if err != nil {
		return outcome{err: err, at: time.Now()}
	}
	return outcome{status: r.Status, at: time.Now()}
}

// containerIDs returns the sidecar's container ID and the restart count of the pod's other
// containers.
func containerIDs(p *corev1.Pod) (sidecar string, otherRestarts int32) {
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if s.Name == names.SidecarContainerName {
			if s.State.Running != nil {
				sidecar = s.ContainerID
			}
			continue
		}
		otherRestarts += s.RestartCount
	}
	return sidecar, otherRestarts
}

// sidecarRestarts is the restart count of the pod's sidecar container.
func sidecarRestarts(p *corev1.Pod) int32 {
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if s.Name == names.SidecarContainerName {
			return s.RestartCount
		}
	}
	return 0
}

// TestAPIServerRestart (local cluster, or kind through the static pod manifest): a request to a
// Service at zero is held while the kube-apiserver is stopped for 5 s and started again; it answers 200 once the operator can scale
// the target, the Service returns to serve mode, and a second scale-to-zero and wake-up work (the
// operator's watches recovered).
func TestAPIServerRestart(t *testing.T) {
	f := setup(t, "apiserver", 1)
	node := framework.Node{StateDir: env.Config.LocalClusterDir}
	component := os.Getenv("E2E_APISERVER_COMPONENT")
	if component == "" {
		component = "kube-apiserver"
	}
	restart := node.RestartProcess
	if _, err := node.PidFile(component); err != nil {
		// Not the local cluster: a kubeadm node (kind) runs the API server as a static pod.
		if _, serr := framework.StaticPodManifest(component); serr != nil {
			framework.Skip(t, "the API server can be restarted only on the local cluster (by its pid file) or on a "+
				"kubeadm node such as kind's (by its static pod manifest), and this is neither: %v; %v", err, serr)
		}
		restart = node.RestartStaticPod
	}
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	start := time.Now()
	done := make(chan *framework.BurstResult, 1)
	go func() {
		done <- framework.Burst(f.ctx, f.gw.fresh, f.url(app, 0, "/"), 10, framework.AppMessage("app"))
	}()
	restartsBefore := systemRestarts(t, f.ctx)
	time.Sleep(100 * time.Millisecond)
	pid, err := restart(f.ctx, component, 5*time.Second)
	if err != nil {
		t.Fatalf("restarting %s: %v", component, err)
	}
	step(t, start, "%s restarted (pid %d)", component, pid)
	err = framework.Poll(f.ctx, env.Config.Scale(60*time.Second), 250*time.Millisecond, "the API server to answer again",
		func(ctx context.Context) (bool, string, error) {
			_, err := env.Kube.Discovery().ServerVersion()
			return err == nil, "", err
		})
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "API server answers")
	res := <-done
	step(t, start, "held requests: %s", res)
	if res.OK != 10 {
		t.Errorf("%d of 10 held requests answered 200 across the API server restart: %s", res.OK, res)
	}
	if _, err := app.WaitState(f.ctx, env.Config.Scale(90*time.Second), "serve mode after the restart", framework.InServeMode); err != nil {
		t.Fatal(err)
	}
	f.toZero(app)
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	step(t, start, "second wake-up after the restart works")
	checkNoCrashLoop(t, f.ctx, restartsBefore)
	step(t, start, "Elasti's pods are ready, none restarted more than once")
}

// systemRestarts: the restart count of every container of Elasti's own pods, by "pod/container".
func systemRestarts(t *testing.T, ctx context.Context) map[string]int32 {
	t.Helper()
	pods, err := env.Kube.CoreV1().Pods(env.Config.SystemNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing %s: %v", env.Config.SystemNamespace, err)
	}
	out := map[string]int32{}
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			out[p.Name+"/"+c.Name] = c.RestartCount
		}
	}
	return out
}

// checkNoCrashLoop: after an API server restart, Elasti's pods are all ready again and none of
// their containers restarted more than once since before (a leader that cannot renew its Lease
// exits, once, by design; its replacement waits for the API server instead of exiting again,
// which would put it in CrashLoopBackOff, with back-offs that outlast the outage).
func checkNoCrashLoop(t *testing.T, ctx context.Context, before map[string]int32) {
	t.Helper()
	var last string
	err := framework.Poll(ctx, env.Config.Scale(60*time.Second), time.Second, "every pod in "+env.Config.SystemNamespace+" ready",
		func(ctx context.Context) (bool, string, error) {
			pods, err := env.Kube.CoreV1().Pods(env.Config.SystemNamespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, "", err
			}
			var notReady []string
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && !framework.PodReady(&p) {
					notReady = append(notReady, p.Name)
				}
			}
			last = strings.Join(notReady, ", ")
			return len(notReady) == 0, last, nil
		})
	if err != nil {
		t.Errorf("%v (not ready: %s)", err, last)
	}
	for key, n := range systemRestarts(t, ctx) {
		if d := n - before[key]; d > 1 {
			t.Errorf("%s restarted %d times across the API server restart, want at most 1 (a crash loop)", key, d)
		} else if d == 1 {
			t.Logf("%s restarted once (a leader that lost its Lease exits)", key)
		}
	}
}

// TestSidecarCrashKeepsGatewayReady: the resolver process in a gateway's sidecar is killed
// (SIGKILL, as an OOM kill or a crash would end it). The container's supervisor starts it again;
// the gateway pod never leaves Ready, its container restart counts do not move, steady
// non-Elasti traffic through the gateway's own Service loses nothing, and the restarted resolver
// holds and wakes a Service at zero again.
func TestSidecarCrashKeepsGatewayReady(t *testing.T) {
	f := setup(t, "sidecarcrash", 1)
	start := time.Now()
	warm, err := f.ns.DeployApp(f.ctx, framework.AppOptions{Name: "warm"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ns.WaitDeploymentReady(f.ctx, warm.Name, 1, env.Config.Scale(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	pods, err := f.ns.GatewayPods(f.ctx, "gateway")
	if err != nil || len(pods) != 1 {
		t.Fatalf("want 1 gateway pod: %v", err)
	}
	gw := pods[0]
	sidecarID, otherRestarts := containerIDs(&gw)
	sidecarRestartsBefore := sidecarRestarts(&gw)
	if sidecarID == "" {
		t.Fatalf("pod %s has no running %s container", gw.Name, names.SidecarContainerName)
	}
	if len(framework.ContainerProcesses(sidecarID)) == 0 {
		framework.Skip(t, "the sidecar's processes are not visible from here (run the suite on the node, as root)")
	}
	child, err := framework.ResolverChild(sidecarID)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's own Service: its endpoint is the gateway pod while the pod is Ready.
	svc, err := env.Kube.CoreV1().Services(f.ns.Name).Create(f.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "gateway"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"e2e-gateway": "gateway"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	viaService := framework.GatewayClient(net.JoinHostPort(svc.Spec.ClusterIP, "80"), false)
	if err := framework.Poll(f.ctx, 60*time.Second, 200*time.Millisecond, "the gateway answering through its Service", func(ctx context.Context) (bool, string, error) {
		r, err := framework.Get(ctx, viaService, f.url(warm, 0, "/"))
		if err != nil {
			return false, err.Error(), nil
		}
		return r.Status == http.StatusOK, fmt.Sprint(r.Status), nil
	}); err != nil {
		t.Fatal(err)
	}
	load := framework.StartLoad(f.ctx, viaService, f.url(warm, 0, "/"), 4, 20*time.Millisecond, framework.AppMessage("warm"))
	defer load.Stop()

	// Watch the gateway pod's Ready condition every 50 ms from before the kill until well after.
	watchCtx, stopWatch := context.WithCancel(f.ctx)
	notReady := make(chan string, 1)
	var watched sync.WaitGroup
	watched.Go(func() {
		for watchCtx.Err() == nil {
			p, err := env.Kube.CoreV1().Pods(f.ns.Name).Get(watchCtx, gw.Name, metav1.GetOptions{})
			if err == nil && !framework.PodReady(p) {
				select {
				case notReady <- fmt.Sprintf("%s after the kill", time.Since(start).Round(time.Millisecond)):
				default:
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	time.Sleep(2 * time.Second)
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	step(t, start, "killed the resolver process %d of %s", child, gw.Name)
	var restarted int
	if err := framework.Poll(f.ctx, 30*time.Second, 50*time.Millisecond, "a new resolver process", func(context.Context) (bool, string, error) {
		pid, err := framework.ResolverChild(sidecarID)
		if err != nil || pid == child {
			return false, fmt.Sprint(err), nil
		}
		restarted = pid
		return true, "", nil
	}); err != nil {
		t.Fatal(err)
	}
	step(t, start, "resolver restarted as %d, %s after the kill", restarted, time.Since(killedAt).Round(time.Millisecond))
	// The restarted resolver acknowledges the Service at zero again: listed ready in its slice.
	if err := framework.Poll(f.ctx, 30*time.Second, 100*time.Millisecond, "the gateway's sidecar ready in the proxy slice again", func(ctx context.Context) (bool, string, error) {
		st, err := app.State(ctx)
		if err != nil {
			return false, "", err
		}
		return slices.Contains(st.ProxyAddresses(), gw.Status.PodIP), fmt.Sprint(st.ProxyAddresses()), nil
	}); err != nil {
		t.Fatal(err)
	}
	step(t, start, "sidecar listed ready again %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	stopWatch()
	watched.Wait()
	res := load.Stop()
	step(t, start, "non-Elasti traffic through the gateway Service across the crash: %s", res)
	select {
	case at := <-notReady:
		t.Errorf("the gateway pod was NotReady (%s)", at)
	default:
	}
	if res.Failures() != 0 || res.OK == 0 {
		t.Errorf("non-Elasti traffic through the gateway lost requests: %s", res)
	}
	p, err := env.Kube.CoreV1().Pods(f.ns.Name).Get(f.ctx, gw.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, restarts := containerIDs(p); restarts != otherRestarts {
		t.Errorf("the gateway container restarted (%d → %d)", otherRestarts, restarts)
	}
	if after := sidecarRestarts(p); after != sidecarRestartsBefore {
		t.Errorf("the sidecar container restarted (%d → %d): the supervisor should have kept it up", sidecarRestartsBefore, after)
	}
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	step(t, start, "a request at zero through the same gateway woke the app")
}
