//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// The security group (issue 12): who may be a sidecar, where triggers may send requests, what
// the operator may write, and what a sign-in costs the API server. docs/security.md describes the
// model these scenarios check.

// resolverPolicy is the ValidatingAdmissionPolicy (and its binding) of manifests/base/policy.
const resolverPolicy = "elasti-resolver-pods"

// TestSecurityForgedSidecar: a pod that claims to be a resolver sidecar (the label, a container
// elasti-resolver running the webhook's sidecar image) in a namespace that did not opt in is
// refused at admission. With the policy's binding removed it can be created, but it is never
// listed in a proxy slice, and a token bound to it gets 401 from the elastiserver.
func TestSecurityForgedSidecar(t *testing.T) {
	f := setup(t, "secforged", 1)
	start := time.Now()
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	plain, err := env.CreateNamespace(f.ctx, "e2e-secplain", framework.NamespaceOptions{})
	if plain != nil {
		t.Cleanup(func() { cleanupNamespace(t, plain) })
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Kube.CoreV1().ServiceAccounts(plain.Name).Create(f.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "forger"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	forged := forgedSidecar(t, f)

	_, err = env.Kube.CoreV1().Pods(plain.Name).Create(f.ctx, forged, metav1.CreateOptions{})
	if err == nil || !(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)) || !strings.Contains(err.Error(), "not opted in") {
		t.Fatalf("a forged sidecar pod in namespace %s: got %v, want refused by the %s policy", plain.Name, err, resolverPolicy)
	}
	step(t, start, "refused at admission: %v", err)

	removePolicyBinding(t, f)
	var pod *corev1.Pod
	err = framework.Poll(f.ctx, env.Config.Scale(60*time.Second), 500*time.Millisecond, "the forged pod to be admitted without the policy",
		func(ctx context.Context) (bool, string, error) {
			p, err := env.Kube.CoreV1().Pods(plain.Name).Create(ctx, forged.DeepCopy(), metav1.CreateOptions{})
			if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
				return false, err.Error(), nil // the API server has not dropped the binding yet
			}
			pod = p
			return err == nil, "", err
		})
	if err != nil {
		t.Fatal(err)
	}
	err = framework.Poll(f.ctx, env.Config.Scale(90*time.Second), 500*time.Millisecond, "the forged pod to get an IP",
		func(ctx context.Context) (bool, string, error) {
			p, err := env.Kube.CoreV1().Pods(plain.Name).Get(ctx, forged.Name, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			pod = p
			return p.Status.PodIP != "", string(p.Status.Phase), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "forged pod running without the policy, IP %s", pod.Status.PodIP)

	err = framework.Never(f.ctx, env.Config.Scale(20*time.Second), 500*time.Millisecond, "the forged sidecar was listed in a proxy slice",
		func(ctx context.Context) (bool, string, error) {
			st, err := app.State(ctx)
			if err != nil {
				return false, "", err
			}
			for _, s := range st.ProxySlices {
				for _, ep := range s.Endpoints {
					for _, a := range ep.Addresses {
						if a == pod.Status.PodIP {
							return true, st.String(), nil
						}
					}
				}
			}
			return false, st.String(), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := app.State(f.ctx); err != nil || !framework.AtZeroInProxyMode(st) {
		t.Fatalf("control: the Service should still be in proxy mode at zero with the real sidecars: %v %v", st, err)
	}

	token := tokenFor(t, f.ctx, plain.Name, "forger", pod)
	url := elastiserverURL(t, f)
	body := requestCountBody(t, f.ns.Name, app.Name)
	for _, tc := range []struct{ what, method, path string }{
		{"RequestCount", http.MethodPost, stream.IncomingRequestPath},
		{"stream", http.MethodGet, stream.StreamPath},
		{"ack", http.MethodPost, stream.AckPath},
	} {
		if status, msg := callElastiserver(t, f, url+tc.path, tc.method, token, body); status != http.StatusUnauthorized {
			t.Errorf("%s with the forged sidecar's token: %d (%s), want 401", tc.what, status, msg)
		} else {
			t.Logf("%s: 401 %s", tc.what, msg)
		}
	}
	if err := framework.Never(f.ctx, 5*time.Second, 250*time.Millisecond, "the target was woken by the forged sidecar", neverAtZeroInverse(app)); err != nil {
		t.Error(err)
	}
}

// forgedSidecar is what a pod author can write: the resolver label and a container
// elasti-resolver running the very image the webhook injects.
func forgedSidecar(t *testing.T, f *fixture) *corev1.Pod {
	t.Helper()
	image := env.Config.DemoImage
	if wh, err := env.Kube.AppsV1().Deployments(env.Config.SystemNamespace).Get(f.ctx, "elasti-webhook", metav1.GetOptions{}); err == nil {
		for _, a := range wh.Spec.Template.Spec.Containers[0].Args {
			if v, ok := strings.CutPrefix(a, "--sidecar-image="); ok {
				image = v
			}
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "forged-gateway", Labels: map[string]string{names.LabelResolver: "true", "app": "forged"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "forger", TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{
				{Name: names.SidecarContainerName, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
					Ports: []corev1.ContainerPort{{Name: names.PortNameProxy, ContainerPort: names.DefaultProxyPort}}},
				{Name: "gateway", Image: env.Config.DemoImage, ImagePullPolicy: corev1.PullIfNotPresent, Args: []string{"--startup-delay=0s"}},
			},
		},
	}
}

// removePolicyBinding deletes the admission policy's binding and puts it back when the test ends.
func removePolicyBinding(t *testing.T, f *fixture) {
	t.Helper()
	bindings := env.Kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	b, err := bindings.Get(f.ctx, resolverPolicy, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the %s policy binding (manifests/base/policy) is not installed: %v", resolverPolicy, err)
	}
	if err := bindings.Delete(f.ctx, resolverPolicy, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		restored := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: b.Name, Labels: b.Labels, Annotations: b.Annotations}, Spec: b.Spec}
		if _, err := bindings.Create(ctx, restored, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Errorf("restoring the %s policy binding: %v", resolverPolicy, err)
		}
	})
}

// tokenFor requests a token with Elasti's audience bound to pod, as the kubelet projects one.
func tokenFor(t *testing.T, ctx context.Context, ns, sa string, pod *corev1.Pod) string {
	t.Helper()
	tr, err := env.Kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{names.DefaultAudience},
			ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for %s/%s bound to pod %s: %v", ns, sa, pod.Name, err)
	}
	return tr.Status.Token
}

// TestSecurityTriggerAddressNotAllowed: an ElastiService whose trigger names a serverAddress the
// operator does not allow gets TriggersHealthy=False saying so, a TriggerError Event, and no
// request reaches that address: a demo app stands in for it and counts what it receives.
func TestSecurityTriggerAddressNotAllowed(t *testing.T) {
	f := setup(t, "sectrigger", 0)
	start := time.Now()
	listener, err := f.ns.DeployApp(f.ctx, framework.AppOptions{Name: "listener"})
	if err != nil {
		t.Fatal(err)
	}
	listenerPod := waitReadyPod(t, f, "app="+listener.Name)
	target := fmt.Sprintf("http://listener.%s.svc.cluster.local:80", f.ns.Name)
	app := f.app(framework.AppOptions{Name: "app"}, func(es *elastiv1.ElastiService) {
		es.Spec.CooldownPeriod = ptr.To[int32](0)
		es.Spec.Triggers = []elastiv1.ScaleTrigger{framework.PrometheusTrigger(target, "vector(0)", "1", "")}
	})
	st, err := app.WaitState(f.ctx, env.Config.Scale(90*time.Second), "TriggersHealthy=False", func(s *framework.State) bool {
		return s.Condition(elastiv1.ConditionTriggersHealthy) == metav1.ConditionFalse
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := conditionMessage(st, elastiv1.ConditionTriggersHealthy)
	if !strings.Contains(msg, "is not a Prometheus the operator may query; no request was sent") {
		t.Errorf("TriggersHealthy message %q does not say the address is not allowed", msg)
	}
	step(t, start, "TriggersHealthy=False: %s", msg)
	if !hasEvent(t, f, app.Name, "TriggerError") {
		t.Errorf("no TriggerError Event on the ElastiService")
	}
	queries := func(ctx context.Context) (bool, string, error) {
		n, err := demoRequests(ctx, listenerPod.Status.PodIP, "other")
		return n > 0, fmt.Sprintf("%v requests to paths other than the demo app's", n), err
	}
	// Several poll intervals (the suite runs the operator with --poll-interval=2s).
	if err := framework.Never(f.ctx, env.Config.Scale(15*time.Second), 500*time.Millisecond, "the operator sent a request to the address not allowed", queries); err != nil {
		t.Fatal(err)
	}
	if err := framework.Never(f.ctx, 2*time.Second, 250*time.Millisecond, "the target was scaled down", neverAtZero(app, nil)); err != nil {
		t.Error(err)
	}
	// Control: the listener does count such a request.
	resp, err := http.Get(fmt.Sprintf("http://%s/api/v1/query?query=up", net.JoinHostPort(listenerPod.Status.PodIP, "8080")))
	if err != nil {
		t.Fatalf("control request to the listener: %v", err)
	}
	_ = resp.Body.Close()
	if err := framework.Poll(f.ctx, 10*time.Second, 250*time.Millisecond, "the listener to count the control request", queries); err != nil {
		t.Errorf("control: %v", err)
	}
}

func conditionMessage(st *framework.State, t string) string {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Message
		}
	}
	return ""
}

// waitReadyPod waits for one ready pod matching selector in the fixture's namespace.
func waitReadyPod(t *testing.T, f *fixture, selector string) *corev1.Pod {
	t.Helper()
	var ready *corev1.Pod
	err := framework.Poll(f.ctx, env.Config.Scale(90*time.Second), 250*time.Millisecond, "a ready pod "+selector,
		func(ctx context.Context) (bool, string, error) {
			pods, err := env.PodsBySelector(ctx, f.ns.Name, selector)
			for i := range pods {
				if framework.PodReady(&pods[i]) && pods[i].Status.PodIP != "" {
					ready = &pods[i]
					return true, "", nil
				}
			}
			return false, fmt.Sprintf("%d pods", len(pods)), err
		})
	if err != nil {
		t.Fatal(err)
	}
	return ready
}

// demoRequests reads demo_requests_total{path=...} from a demo app pod.
func demoRequests(ctx context.Context, podIP, path string) (float64, error) {
	series, err := scrape(ctx, "http://"+net.JoinHostPort(podIP, "8080")+"/metrics")
	if err != nil {
		return 0, err
	}
	return series[fmt.Sprintf("demo_requests_total{path=%q}", path)], nil
}

// TestSecurityOperatorCannotWritePods is `kubectl auth can-i patch pods
// --as=system:serviceaccount:elasti-system:<operator sa>` → no, as a SubjectAccessReview, for
// every way of writing a pod, cluster-wide and in a namespace; and no access to Secrets. Reading
// pods is allowed (the control).
func TestSecurityOperatorCannotWritePods(t *testing.T) {
	requireEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := env.Kube.AppsV1().Deployments(env.Config.SystemNamespace).Get(ctx, framework.OperatorDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa := d.Spec.Template.Spec.ServiceAccountName
	user := "system:serviceaccount:" + env.Config.SystemNamespace + ":" + sa
	can := func(ns, verb, resource, sub string) bool {
		t.Helper()
		sar, err := env.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               user,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + env.Config.SystemNamespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource, Subresource: sub},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	if !can("", "get", "pods", "") || !can("", "watch", "pods", "") {
		t.Fatalf("control: %s should be able to read pods", user)
	}
	for _, ns := range []string{"", "default", env.Config.SystemNamespace} {
		for _, verb := range []string{"patch", "update", "create", "delete", "deletecollection"} {
			for _, sub := range []string{"", "status", "ephemeralcontainers"} {
				if can(ns, verb, "pods", sub) {
					t.Errorf("kubectl auth can-i %s pods%s -n %q --as=%s: yes, want no", verb, suffix(sub), ns, user)
				}
			}
		}
		for _, sub := range []string{"exec", "attach", "portforward", "eviction"} {
			if can(ns, "create", "pods", sub) {
				t.Errorf("kubectl auth can-i create pods/%s -n %q --as=%s: yes, want no", sub, ns, user)
			}
		}
		for _, verb := range []string{"get", "list", "watch"} {
			if can(ns, verb, "secrets", "") {
				t.Errorf("kubectl auth can-i %s secrets -n %q --as=%s: yes, want no (the trigger-auth ClusterRole ships unbound)", verb, ns, user)
			}
		}
	}
}

func suffix(sub string) string {
	if sub == "" {
		return ""
	}
	return "/" + sub
}

// TestSecurityGarbageTokens: 1,000 tokens that are not JWTs for Elasti's audience (random
// strings, a real token for another audience, an expired-looking one) are all refused with 401
// and cost 0 TokenReviews: elasti_operator_tokenreviews_total of every operator replica does
// not move (its unauthenticated and error results; authenticated ones may come from the
// suite's real sidecars meanwhile), while elasti_operator_signin_rejections_total counts them.
func TestSecurityGarbageTokens(t *testing.T) {
	f := setup(t, "secgarbage", 0)
	before, err := operatorMetrics(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Kube.CoreV1().ServiceAccounts(f.ns.Name).Create(f.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prober"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other, err := env.Kube.CoreV1().ServiceAccounts(f.ns.Name).CreateToken(f.ctx, "prober", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"https://kubernetes.default.svc"}, ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, 0, 1000)
	for i := range 1000 {
		switch i % 4 {
		case 0:
			tokens = append(tokens, fmt.Sprintf("garbage-%d", i))
		case 1:
			tokens = append(tokens, fmt.Sprintf("eyJhbGciOiJSUzI1NiJ9.%d.%d", i, i))
		case 2:
			tokens = append(tokens, other.Status.Token)
		case 3:
			tokens = append(tokens, other.Status.Token[:len(other.Status.Token)/2]+fmt.Sprint(i))
		}
	}
	codes := sendTokens(t, f, elastiserverURL(t, f)+stream.IncomingRequestPath, tokens, requestCountBody(t, f.ns.Name, "nothing"))
	if codes[http.StatusUnauthorized] != len(tokens) {
		t.Errorf("answers %v, want %d × 401", codes, len(tokens))
	}
	after, err := operatorMetrics(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, result := range []string{"unauthenticated", "error"} {
		k := fmt.Sprintf("elasti_operator_tokenreviews_total{result=%q}", result)
		if d := after[k] - before[k]; d != 0 {
			t.Errorf("%s moved by %v: garbage cost TokenReviews", k, d)
		}
	}
	rejected := 0.0
	for _, reason := range []string{"malformed", "audience", "expired"} {
		k := fmt.Sprintf("elasti_operator_signin_rejections_total{reason=%q}", reason)
		rejected += after[k] - before[k]
	}
	if rejected < float64(len(tokens)) {
		t.Errorf("control: elasti_operator_signin_rejections_total rose by %v, want at least %d (are the metrics of every replica read?)", rejected, len(tokens))
	}
	t.Logf("%d garbage tokens: answers %v, sign-ins refused before review %v, TokenReviews (unauthenticated+error) +%v",
		len(tokens), codes, rejected,
		after[`elasti_operator_tokenreviews_total{result="unauthenticated"}`]+after[`elasti_operator_tokenreviews_total{result="error"}`]-
			before[`elasti_operator_tokenreviews_total{result="unauthenticated"}`]-before[`elasti_operator_tokenreviews_total{result="error"}`])
}
