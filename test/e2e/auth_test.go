//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/pkg/messages"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// TestElastiserverRejectsNonSidecar: a token with Elasti's audience, bound to a pod that is not a
// resolver sidecar, gets 401 from the elastiserver for both a RequestCount and the sidecar stream,
// and the target stays at zero; no token gets 401 too. As a control, a token bound to an injected
// gateway pod (what its sidecar holds) is accepted and wakes the target.
func TestElastiserverRejectsNonSidecar(t *testing.T) {
	f := setup(t, "auth", 1)
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	if _, err := env.Kube.CoreV1().ServiceAccounts(f.ns.Name).Create(f.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "intruder"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	intruder := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "intruder", Labels: map[string]string{"app": "intruder"}},
		Spec: corev1.PodSpec{ServiceAccountName: "intruder", TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{Name: "app", Image: env.Config.DemoImage, ImagePullPolicy: corev1.PullIfNotPresent, Args: []string{"--startup-delay=0s"}}}},
	}
	if _, err := env.Kube.CoreV1().Pods(f.ns.Name).Create(f.ctx, intruder, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	badToken := podToken(t, f, "intruder", "intruder")
	elastiserver := elastiserverURL(t, f)
	body := requestCountBody(t, f.ns.Name, app.Name)

	for _, tc := range []struct{ name, token, method, path string }{
		{"RequestCount without a token", "", http.MethodPost, stream.IncomingRequestPath},
		{"RequestCount from a non-sidecar pod", badToken, http.MethodPost, stream.IncomingRequestPath},
		{"stream from a non-sidecar pod", badToken, http.MethodGet, stream.StreamPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := callElastiserver(t, f, elastiserver+tc.path, tc.method, tc.token, body)
			if status != http.StatusUnauthorized {
				t.Errorf("status %d (%s), want 401", status, msg)
			}
		})
	}
	if err := framework.Never(f.ctx, 5*time.Second, 250*time.Millisecond, "the target was woken by a rejected caller", neverAtZeroInverse(app)); err != nil {
		t.Error(err)
	}

	gw, err := f.ns.GatewayPods(f.ctx, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	goodToken := podToken(t, f, gw[0].Spec.ServiceAccountName, gw[0].Name)
	status, msg := callElastiserver(t, f, elastiserver+stream.IncomingRequestPath, http.MethodPost, goodToken, body)
	if status != http.StatusAccepted {
		t.Fatalf("control: a token bound to the injected gateway pod got %d (%s), want 202", status, msg)
	}
	if _, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "woken by the sidecar's RequestCount", framework.InServeMode); err != nil {
		t.Fatal(err)
	}
}

// neverAtZeroInverse reports the target scaled above zero.
func neverAtZeroInverse(app *framework.App) framework.Check {
	return func(ctx context.Context) (bool, string, error) {
		sc, err := app.Scale(ctx)
		if err != nil {
			return false, "", err
		}
		return sc.Spec.Replicas > 0, fmt.Sprintf("spec replicas %d", sc.Spec.Replicas), nil
	}
}

// podToken requests a ServiceAccount token with Elasti's audience, bound to the pod (as the
// kubelet's projected token is).
func podToken(t *testing.T, f *fixture, sa, pod string) string {
	t.Helper()
	p, err := env.Kube.CoreV1().Pods(f.ns.Name).Get(f.ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := env.Kube.CoreV1().ServiceAccounts(f.ns.Name).CreateToken(f.ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{names.DefaultAudience},
			ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: p.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for %s bound to pod %s: %v", sa, pod, err)
	}
	return tr.Status.Token
}

// elastiserverURL is the operator Service's elastiserver port by ClusterIP.
func elastiserverURL(t *testing.T, f *fixture) string {
	t.Helper()
	svc, err := env.Kube.CoreV1().Services(env.Config.SystemNamespace).Get(f.ctx, names.OperatorServiceName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := int32(names.DefaultElastiServerPort)
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.StrVal == "elastiserver" || p.Port == names.DefaultElastiServerPort {
			port = p.Port
		}
	}
	return "https://" + net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(port))
}

func requestCountBody(t *testing.T, ns, svc string) []byte {
	t.Helper()
	b, err := json.Marshal(messages.RequestCount{Count: 1, Svc: svc, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// callElastiserver sends one request (TLS not verified: this checks authentication, not the
// certificate) and returns the status and the start of the body.
func callElastiserver(t *testing.T, f *fixture, url, method, token string, body []byte) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	var r io.Reader
	if method == http.MethodPost {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(f.ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, string(b)
}
