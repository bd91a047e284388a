//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// httpClient is a client bound to one gateway pod.
type httpClient struct {
	addr     string
	fresh    *http.Client // a new connection per request
	keepOpen *http.Client // reuses connections
}

func newHTTPClient(addr string) *httpClient {
	return &httpClient{addr: addr, fresh: framework.GatewayClient(addr, false), keepOpen: framework.GatewayClient(addr, true)}
}

// app deploys a demo app with an ElastiService (mutated by edit) and waits for serve mode.
func (f *fixture) app(o framework.AppOptions, edit func(*elastiv1.ElastiService)) *framework.App {
	f.t.Helper()
	app, err := f.ns.DeployApp(f.ctx, o)
	if err != nil {
		f.t.Fatal(err)
	}
	es := framework.ElastiServiceFor(app)
	if edit != nil {
		edit(es)
	}
	if err := env.CreateElastiService(f.ctx, es); err != nil {
		f.t.Fatal(err)
	}
	if o.ZeroReplicas {
		return app
	}
	if _, err := app.WaitState(f.ctx, env.Config.Scale(90*time.Second), "serve mode with a ready pod", framework.InServeMode); err != nil {
		f.t.Fatal(err)
	}
	f.waitProgrammed(app)
	return app
}

// waitProgrammed waits until kube-proxy on this node has rules for the app's new Service: a
// ready pod in its EndpointSlice does not mean kube-proxy has synced yet, and a connection to
// the ClusterIP before then is refused. That is plain Kubernetes (Elasti is not in the path in
// serve mode), so a scenario starts only once the Service answers.
func (f *fixture) waitProgrammed(app *framework.App) {
	f.t.Helper()
	svc, err := env.Kube.CoreV1().Services(app.NS.Name).Get(f.ctx, app.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == "None" || len(svc.Spec.Ports) == 0 {
		return
	}
	addr := net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port)))
	deadline := time.Now().Add(env.Config.Scale(30 * time.Second))
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("Service %s/%s (%s) still refuses connections: %v", app.NS.Name, app.Name, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.waitResolvable(app, svc.Spec.ClusterIP)
}

// waitResolvable waits until the cluster DNS answers the Service's name with its ClusterIP, as
// the gateway will ask it. The DNS server learns new Services through its own watch, which can
// lag (for a while after an API server restart, for one), and a name asked too early is a
// failed request that has nothing to do with Elasti. Without a kube-dns Service (another DNS
// set-up) there is nothing to wait for.
func (f *fixture) waitResolvable(app *framework.App, clusterIP string) {
	f.t.Helper()
	dns, err := env.Kube.CoreV1().Services("kube-system").Get(f.ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || dns.Spec.ClusterIP == "" || dns.Spec.ClusterIP == "None" {
		return
	}
	server := net.JoinHostPort(dns.Spec.ClusterIP, "53")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	name := fmt.Sprintf("%s.%s.svc.%s.", app.Name, app.NS.Name, names.DefaultClusterDomain)
	err = framework.Poll(f.ctx, env.Config.Scale(60*time.Second), 200*time.Millisecond, "the cluster DNS ("+server+") resolving "+name,
		func(ctx context.Context) (bool, string, error) {
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			addrs, err := r.LookupHost(qctx, name)
			if err != nil {
				return false, err.Error(), nil
			}
			return slices.Contains(addrs, clusterIP), fmt.Sprintf("%v", addrs), nil
		})
	if err != nil {
		f.t.Fatal(err)
	}
}

// toZero scales the app to 0 by hand and waits for proxy mode with no ready pod.
func (f *fixture) toZero(app *framework.App) *framework.State {
	f.t.Helper()
	if err := app.SetReplicas(f.ctx, 0); err != nil {
		f.t.Fatal(err)
	}
	st, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "proxy mode at zero replicas", func(s *framework.State) bool {
		return framework.AtZeroInProxyMode(s) && s.ReadyReplicas == 0
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.waitNoAppPods(app)
	return st
}

// waitNoAppPods waits until the app's pods are gone, so that the next request really wakes it.
func (f *fixture) waitNoAppPods(app *framework.App) {
	f.t.Helper()
	err := framework.Poll(f.ctx, env.Config.Scale(60*time.Second), 200*time.Millisecond, "the app's pods to be gone",
		func(ctx context.Context) (bool, string, error) {
			pods, err := env.PodsBySelector(ctx, f.ns.Name, "app="+app.Name)
			return len(pods) == 0, fmt.Sprintf("%d pods", len(pods)), err
		})
	if err != nil {
		f.t.Fatal(err)
	}
}

// url is the gateway URL of an app's Service.
func (f *fixture) url(app *framework.App, port int, path string) string {
	return framework.ServiceURL(f.ns.Name, app.Name, port, path)
}

// mustGet sends one GET through the gateway on a new connection and expects 200 and want.
func (f *fixture) mustGet(url, want string) *framework.Response {
	f.t.Helper()
	r, err := framework.Get(f.ctx, f.gw.fresh, url)
	if err != nil {
		f.t.Fatalf("GET %s: %v", url, err)
	}
	if r.Status != http.StatusOK || !strings.Contains(r.Body, want) {
		f.t.Fatalf("GET %s: status %d body %.300q, want 200 and %q", url, r.Status, r.Body, want)
	}
	return r
}

// dumpSystem writes Elasti's own pods and the tail of their logs.
func dumpSystem(ctx context.Context, w io.Writer) {
	ns := env.Config.SystemNamespace
	pods, err := env.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "listing %s: %v\n", ns, err)
		return
	}
	for _, p := range pods.Items {
		fmt.Fprintf(w, "---- %s/%s ready=%v%s ----\n", ns, p.Name, framework.PodReady(&p), restartSummary(&p))
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount == 0 {
				continue
			}
			// Why the last instance ended, in its own words (a crash loop shows here).
			b, err := env.Kube.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: true, TailLines: ptr.To[int64](3)}).DoRaw(ctx)
			if err == nil {
				fmt.Fprintf(w, "previous %s:\n%s\n", c.Name, b)
			}
		}
		for _, c := range p.Spec.Containers {
			b, err := env.Kube.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, TailLines: ptr.To[int64](15)}).DoRaw(ctx)
			if err != nil {
				fmt.Fprintf(w, "logs of %s: %v\n", c.Name, err)
				continue
			}
			fmt.Fprintf(w, "%s\n", b)
		}
	}
}

// restartSummary: " restarts=<container>:<n>(<last end>)..." for the containers that restarted.
func restartSummary(p *corev1.Pod) string {
	var b strings.Builder
	for _, c := range p.Status.ContainerStatuses {
		if c.RestartCount == 0 {
			continue
		}
		fmt.Fprintf(&b, " restarts=%s:%d", c.Name, c.RestartCount)
		if t := c.LastTerminationState.Terminated; t != nil {
			fmt.Fprintf(&b, "(exit %d %s at %s)", t.ExitCode, t.Reason, t.FinishedAt.Format("15:04:05"))
		}
		if w := c.State.Waiting; w != nil {
			fmt.Fprintf(&b, "[%s]", w.Reason)
		}
	}
	return b.String()
}

func clientKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
