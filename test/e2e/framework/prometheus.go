package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/test/e2e/testdata"
)

// PrometheusNamespace is where the suite runs its Prometheus.
const PrometheusNamespace = "elasti-e2e-prometheus"

// Prometheus is the suite's Prometheus, built from source (hack/prometheus) and run in the
// cluster, scraping every demo app.
type Prometheus struct {
	env *Env
	// InClusterURL is what an ElastiService trigger names as serverAddress.
	InClusterURL string
	clusterIP    string
}

func (e *Env) prometheusVars() map[string]string {
	return map[string]string{"__NAMESPACE__": PrometheusNamespace, "__IMAGE__": e.Config.PrometheusImage}
}

// EnsurePrometheus deploys Prometheus (if needed) and waits until it answers queries.
func (e *Env) EnsurePrometheus(ctx context.Context) (*Prometheus, error) {
	if err := e.awaitNamespaceGone(ctx, PrometheusNamespace); err != nil {
		return nil, err
	}
	if err := e.CreateAll(ctx, testdata.Prometheus, e.prometheusVars()); err != nil {
		return nil, err
	}
	p := &Prometheus{env: e, InClusterURL: PrometheusInClusterURL}
	svc, err := e.Kube.CoreV1().Services(PrometheusNamespace).Get(ctx, "prometheus", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the prometheus Service: %w", err)
	}
	p.clusterIP = svc.Spec.ClusterIP
	return p, p.WaitReady(ctx)
}

// awaitNamespaceGone waits while the namespace is being deleted (a previous run's cleanup).
func (e *Env) awaitNamespaceGone(ctx context.Context, name string) error {
	return Poll(ctx, e.Config.Scale(2*time.Minute), 500*time.Millisecond, "namespace "+name+" to finish terminating",
		func(ctx context.Context) (bool, string, error) {
			ns, err := e.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, "", nil
			}
			if err != nil {
				return false, "", err
			}
			return ns.DeletionTimestamp == nil, "phase " + string(ns.Status.Phase), nil
		})
}

// DeletePrometheus removes it again.
func (e *Env) DeletePrometheus(ctx context.Context) error {
	return e.DeleteAll(ctx, testdata.Prometheus, e.prometheusVars())
}

// WaitReady waits until `up{job="prometheus"}` is 1, i.e. Prometheus has scraped itself.
func (p *Prometheus) WaitReady(ctx context.Context) error {
	return Poll(ctx, p.env.Config.Scale(120*time.Second), 500*time.Millisecond, "Prometheus to scrape itself",
		func(ctx context.Context) (bool, string, error) {
			v, err := p.Query(ctx, `up{job="prometheus"}`)
			if err != nil {
				return false, "", err
			}
			return len(v) == 1 && v[0] == 1, fmt.Sprintf("up=%v", v), nil
		})
}

// SetReplicas scales the Prometheus Deployment (0 stops it; its data lives in an emptyDir, so a
// new pod starts without history, as after a real restart).
func (p *Prometheus) SetReplicas(ctx context.Context, n int32) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	_, err := p.env.Kube.AppsV1().Deployments(PrometheusNamespace).Patch(ctx, "prometheus", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("scaling prometheus to %d: %w", n, err)
	}
	return nil
}

// Query runs an instant query through the Service's ClusterIP and returns the sample values.
func (p *Prometheus) Query(ctx context.Context, q string) ([]float64, error) {
	u := fmt.Sprintf("http://%s:9090/api/v1/query?query=%s", p.clusterIP, url.QueryEscape(q))
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("building query: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying prometheus: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decoding query answer (status %d): %w", resp.StatusCode, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q failed: %s", q, body.Error)
	}
	out := make([]float64, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		var f float64
		if s, ok := r.Value[1].(string); ok {
			_, _ = fmt.Sscanf(s, "%g", &f)
		}
		out = append(out, f)
	}
	return out, nil
}

// StopPrometheus scales the suite's Prometheus to zero when it runs (a scenario that must work
// without one) and returns what restores it: scaled back to one replica and answering queries.
// Without a Prometheus Deployment nothing is stopped and restore does nothing.
func (e *Env) StopPrometheus(ctx context.Context) (restore func(context.Context) error, err error) {
	if _, err := e.Kube.AppsV1().Deployments(PrometheusNamespace).Get(ctx, "prometheus", metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return func(context.Context) error { return nil }, nil
		}
		return nil, fmt.Errorf("looking for the suite's Prometheus: %w", err)
	}
	svc, err := e.Kube.CoreV1().Services(PrometheusNamespace).Get(ctx, "prometheus", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the prometheus Service: %w", err)
	}
	p := &Prometheus{env: e, InClusterURL: PrometheusInClusterURL, clusterIP: svc.Spec.ClusterIP}
	if err := p.SetReplicas(ctx, 0); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if err := p.SetReplicas(ctx, 1); err != nil {
			return err
		}
		return p.WaitReady(ctx)
	}, nil
}
