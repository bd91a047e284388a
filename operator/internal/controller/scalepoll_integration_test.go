//go:build integration

package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/docsection"
	"github.com/elasti-dev/elasti/internal/freeport"
	"github.com/elasti-dev/elasti/internal/kubetest"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/triggers"
	"github.com/elasti-dev/elasti/pkg/portrange"
)

// TestScaleDownPollAtScale (issue 17): how long one poll of the scale-down loop takes
// with n ElastiServices whose targets run, so that every Prometheus trigger is evaluated, each
// against a real Prometheus (ELASTI_PROMETHEUS_BIN, built from source by hack/prometheus/build.sh;
// `make bench-scale` sets it) and the target's /scale read from a real API server. Every trigger
// says active (the query's value is never below its threshold), so nothing is scaled down and
// each poll does the whole evaluation. The test fails if a poll did not send one query per
// ElastiService (Prometheus' own request counter) or scaled anything.
//
// Its name leaves it out of `make test-integration` (-run Integration), which builds no
// Prometheus: `make bench-scale` runs it. ELASTI_SCALE_SERVICES sets n (default 100);
// ELASTI_SCALE_MARKDOWN names the page whose "scale-down-poll-at-scale" section gets the figures.
func TestScaleDownPollAtScale(t *testing.T) {
	bin := os.Getenv("ELASTI_PROMETHEUS_BIN")
	if bin == "" {
		t.Skip("ELASTI_PROMETHEUS_BIN is not set: this benchmark needs a real Prometheus (`make bench-scale` builds one from source with hack/prometheus/build.sh and sets it)")
	}
	n := envInt(t, "ELASTI_SCALE_SERVICES", 100)
	prom := startPrometheus(t, bin)

	e := &envtest.Environment{}
	e.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16") // room for every Service
	env := testenv.Start(t, e)
	c := env.Client
	mustCreate(t, c, namespaces()...)
	mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNS}})
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS = -1 // as ctrl.GetConfig gives the operator: no client-side limit
	op := newOperatorWith(t, env, cfg, operatorSettings{ports: portrange.Range{First: 20000, Last: 29999}})
	op.start(t)

	start := time.Now()
	require.NoError(t, kubetest.CreateAll(context.Background(), c, n, 8, func(i int) []client.Object {
		objs := fleetMember(i)
		objs[0].(*appsv1.Deployment).Spec.Replicas = ptr.To[int32](1)
		objs[2].(*v1alpha1.ElastiService).Spec.Triggers = []v1alpha1.ScaleTrigger{{
			Type: v1alpha1.TriggerTypePrometheus,
			Metadata: v1alpha1.TriggerMetadata{
				// Prometheus' own query rate, distinct per service; never below -1: always active.
				Query:     fmt.Sprintf(`sum(rate(prometheus_http_requests_total{handler="/api/v1/query"}[1m])) or vector(%d)`, i),
				Threshold: &apiextensionsv1.JSON{Raw: []byte(`"-1"`)},
			},
		}}
		return objs
	}))
	created := time.Since(start)
	// Every ElastiService in the operator's cache, so that a poll sees all of them.
	waitScale(t, "the operator's cache to hold every ElastiService", 2*time.Minute, func() bool {
		list := &v1alpha1.ElastiServiceList{}
		return op.mgr.GetCache().List(context.Background(), list, client.InNamespace(scaleNS)) == nil && len(list.Items) == n
	})

	loop := &ScaleDownLoop{Controller: op.rec, Scaler: op.rec.Scaler, Tracker: op.rec.Tracker, APIReader: op.mgr.GetAPIReader(),
		Evaluator:    &triggers.Evaluator{HTTPClient: &http.Client{Timeout: 10 * time.Second}, DefaultServerAddress: prom},
		PollInterval: DefaultPollInterval}
	f := pollFigures{services: n, created: created}
	ctx := log.IntoContext(context.Background(), op.mgr.GetLogger())
	for range 3 {
		queriesBefore := promQueries(t, prom)
		cpuBefore := sampleCPU()
		t0 := time.Now()
		loop.Poll(ctx)
		took := time.Since(t0)
		f.polls = append(f.polls, took)
		f.cpu = append(f.cpu, cpuSince(cpuBefore, took))
		// The poll's own queries, less the two of this check (before and after) counted by the
		// next scrape at the latest: at least n.
		got := promQueries(t, prom) - queriesBefore
		require.GreaterOrEqual(t, got, float64(n), "queries Prometheus answered during a poll of %d ElastiServices", n)
		t.Logf("poll of %d ElastiServices with Prometheus triggers: %s (%.0f queries); CPU: %s", n, took.Round(time.Millisecond), got, f.cpu[len(f.cpu)-1])
	}
	// Nothing was scaled down: every trigger said active.
	deps := &appsv1.DeploymentList{}
	require.NoError(t, c.List(ctx, deps, client.InNamespace(scaleNS)))
	for _, d := range deps.Items {
		require.Equal(t, int32(1), ptr.Deref(d.Spec.Replicas, 0), "Deployment %s was scaled by a poll whose triggers all said active", d.Name)
	}
	if path := os.Getenv("ELASTI_SCALE_MARKDOWN"); path != "" && !t.Failed() {
		require.NoError(t, writePollSection(path, f))
	}
}

// pollFigures: the polls of one TestScaleDownPollAtScale.
type pollFigures struct {
	services int
	created  time.Duration
	polls    []time.Duration
	cpu      []cpuUse
}

func writePollSection(path string, f pollFigures) error {
	page, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("## Scale-down poll at scale (operator, real API server and Prometheus)\n\n")
	b.WriteString(docsection.Provenance("make bench-scale", "TestScaleDownPollAtScale"))
	fmt.Fprintf(&b, "The scale-down loop's `Poll` (what the leader runs every `--poll-interval`, 30 s by default) over %d ElastiServices\n"+
		"whose Deployments run (one replica each, so every trigger is evaluated), each with one Prometheus trigger, against\n"+
		"envtest's kube-apiserver and etcd and a real Prometheus built from source (scraping itself every second; each trigger\n"+
		"queries its request rate). Every trigger says active, so nothing is scaled down: a poll reads each target's `/scale`\n"+
		"from the API server and sends one query, one ElastiService after the other. Created in %.1f s.\n\n", f.services, f.created.Seconds())
	b.WriteString("| poll | took | per ElastiService | CPU (the test process runs the operator's loop and cache) |\n|---|---|---|---|\n")
	for i, p := range f.polls {
		fmt.Fprintf(&b, "| %d | %.2f s | %.1f ms | %s |\n", i+1, p.Seconds(), float64(p.Microseconds())/1000/float64(f.services), f.cpu[i])
	}
	worst := slices.Max(f.polls)
	verdict := "not met"
	switch {
	case f.services < 1000:
		verdict = fmt.Sprintf("not judged (this run had %d ElastiServices)", f.services)
	case worst < DefaultPollInterval:
		verdict = "met"
	}
	fmt.Fprintf(&b, "\n**Target** (issue 17): a poll of 1,000 triggers within the poll interval (%s): **%s** at %d ElastiServices (slowest poll %.2f s, %.0f%% of the interval).\n",
		DefaultPollInterval, verdict, f.services, worst.Seconds(), 100*worst.Seconds()/DefaultPollInterval.Seconds())
	b.WriteString("Not measured here: polls with traffic triggers (their evaluation is an observation through the sidecars, not a query),\n" +
		"and polls that scale services down (each waits for the sidecars' acknowledgements, at most `--sidecar-ack-timeout`).\n")
	out := docsection.Replace(string(page), "scale-down-poll-at-scale", "make bench-scale", b.String())
	return os.WriteFile(path, []byte(out), 0o644)
}

// startPrometheus runs the Prometheus binary at bin on a loopback port, scraping itself every
// second, until the test ends; it returns its base URL once it is ready and has scraped once.
func startPrometheus(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeport.Loopback(t)))
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: [%q]\n", addr)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o600))
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start(), "starting %s", bin)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("Prometheus' log (last 2 KiB): %s", tail(out, 2048))
		}
	})
	base := "http://" + addr
	waitScale(t, "Prometheus to have scraped itself", time.Minute, func() bool {
		v, err := promInstant(base, `up{job="prometheus"}`)
		return err == nil && v == 1
	})
	return base
}

// promQueries is how many instant queries Prometheus has answered, by its own counter (scraped
// every second: the value may lag by a scrape).
func promQueries(t *testing.T, base string) float64 {
	t.Helper()
	// Wait for a scrape after now, so the counter includes the queries sent so far.
	time.Sleep(1100 * time.Millisecond)
	v, err := promInstant(base, `sum(prometheus_http_requests_total{handler="/api/v1/query"})`)
	require.NoError(t, err)
	return v
}

// promInstant runs an instant query whose result is one sample and returns its value.
func promInstant(base, query string) (float64, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("query %s: %w (%.200s)", query, err, body)
	}
	if r.Status != "success" || len(r.Data.Result) != 1 {
		return 0, fmt.Errorf("query %s: status %s, %d results", query, r.Status, len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
