package triggers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// maxAnswerBytes bounds how much of a Prometheus answer is read.
const maxAnswerBytes = 1 << 20

// Evaluator evaluates an ElastiService's triggers. The zero value is usable (http.DefaultClient,
// no default server, time.Now).
type Evaluator struct {
	// HTTPClient sends the queries; its Timeout bounds one query. nil means http.DefaultClient
	// (then only ctx bounds a query).
	HTTPClient *http.Client
	// DefaultServerAddress is the Prometheus base URL for triggers without serverAddress
	// (the operator's --prometheus-address).
	DefaultServerAddress string
	// Now is the clock (measures evaluation duration); nil means time.Now.
	Now func() time.Time
}

// TriggerResult is the outcome of one trigger.
type TriggerResult struct {
	// Value is the query's value (the largest sample) and Threshold the trigger's threshold.
	Value, Threshold float64
	// Idle is Value < Threshold; false when Err is set.
	Idle bool
	// Err says why the trigger could not be evaluated.
	Err error
}

// Result is the outcome of all triggers of one ElastiService.
type Result struct {
	Triggers []TriggerResult
	// Duration is how long the evaluation took.
	Duration time.Duration
}

// Idle reports whether every trigger says idle. Any error makes idle false. Without triggers the
// target is never idle: Elasti scales down only on evidence.
func (r Result) Idle() bool {
	if len(r.Triggers) == 0 {
		return false
	}
	for _, t := range r.Triggers {
		if t.Err != nil || !t.Idle {
			return false
		}
	}
	return true
}

// Err joins the triggers' errors, each prefixed with the trigger's index.
func (r Result) Err() error {
	var errs []error
	for i, t := range r.Triggers {
		if t.Err != nil {
			errs = append(errs, fmt.Errorf("trigger %d: %w", i, t.Err))
		}
	}
	return errors.Join(errs...)
}

// Idle reports whether ALL triggers of es say idle (value < threshold). Any error returns
// err != nil and idle false: a trigger error never scales anything down.
func (e *Evaluator) Idle(ctx context.Context, es *v1alpha1.ElastiService) (bool, error) {
	r := e.Evaluate(ctx, es)
	if err := r.Err(); err != nil {
		return false, err
	}
	return r.Idle(), nil
}

// Evaluate runs every trigger of es and returns each outcome.
func (e *Evaluator) Evaluate(ctx context.Context, es *v1alpha1.ElastiService) Result {
	start := e.now()
	res := Result{Triggers: make([]TriggerResult, 0, len(es.Spec.Triggers))}
	for i := range es.Spec.Triggers {
		res.Triggers = append(res.Triggers, e.evaluate(ctx, &es.Spec.Triggers[i], es.Spec.Cooldown()))
	}
	res.Duration = e.now().Sub(start)
	return res
}

func (e *Evaluator) evaluate(ctx context.Context, t *v1alpha1.ScaleTrigger, cooldown time.Duration) TriggerResult {
	if t.Type != v1alpha1.TriggerTypePrometheus {
		return TriggerResult{Err: fmt.Errorf("trigger type %q is not supported; supported: prometheus", t.Type)}
	}
	threshold, err := t.Metadata.ThresholdValue()
	if err != nil {
		return TriggerResult{Err: err}
	}
	server := t.Metadata.ServerAddress
	if server == "" {
		server = e.DefaultServerAddress
	}
	if server == "" {
		return TriggerResult{Err: errors.New("no Prometheus address: set metadata.serverAddress or the operator's --prometheus-address")}
	}
	q := querier{client: e.client(), server: server, headers: t.Metadata.Headers}
	if f := t.Metadata.UptimeFilter; f != "" {
		if err := q.checkHealthy(ctx, f, cooldown); err != nil {
			return TriggerResult{Threshold: threshold, Err: err}
		}
	}
	samples, err := q.query(ctx, t.Metadata.Query)
	if errors.Is(err, errNoSamples) {
		err = fmt.Errorf("%w; if no data means idle, append `or vector(0)` to the query", err)
	}
	if err != nil {
		return TriggerResult{Threshold: threshold, Err: err}
	}
	v, err := reduce(samples)
	if err != nil {
		return TriggerResult{Threshold: threshold, Err: err}
	}
	return TriggerResult{Value: v, Threshold: threshold, Idle: v < threshold}
}

func (e *Evaluator) client() *http.Client {
	if e.HTTPClient != nil {
		return e.HTTPClient
	}
	return http.DefaultClient
}

func (e *Evaluator) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// querier sends instant queries to one Prometheus.
type querier struct {
	client  *http.Client
	server  string
	headers map[string]string
}

// query runs GET <server>/api/v1/query?query=<q> and returns the samples.
func (q querier) query(ctx context.Context, promQL string) ([]float64, error) {
	u := strings.TrimRight(q.server, "/") + "/api/v1/query?" + url.Values{"query": {promQL}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("building query for %s: %w", q.server, err)
	}
	for k, v := range q.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying Prometheus %s: %w", q.server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("reading answer of Prometheus %s: %w", q.server, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("querying Prometheus %s: HTTP %d: %s", q.server, resp.StatusCode, describeFailure(body))
	}
	samples, err := parseSamples(body)
	if err != nil {
		return nil, fmt.Errorf("querying Prometheus %s: %w", q.server, err)
	}
	return samples, nil
}

// describeFailure returns the error Prometheus put in a non-2xx answer, or the start of the body.
func describeFailure(body []byte) string {
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err == nil && resp.Error != "" {
		return resp.ErrorType + ": " + resp.Error
	}
	return fmt.Sprintf("body %q", truncate(body))
}
