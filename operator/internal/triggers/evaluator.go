package triggers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// maxAnswerBytes bounds how much of a Prometheus answer is read.
const maxAnswerBytes = 1 << 20

// Evaluator evaluates an ElastiService's triggers. The zero value is usable (http.DefaultClient,
// no server allowed, time.Now).
type Evaluator struct {
	// HTTPClient sends the queries; its Timeout bounds one query. nil means http.DefaultClient
	// (then only ctx bounds a query). Redirects are never followed, whatever its CheckRedirect.
	HTTPClient *http.Client
	// DefaultServerAddress is the Prometheus base URL for triggers without serverAddress
	// (the operator's --prometheus-address); it is always allowed.
	DefaultServerAddress string
	// AllowedServerAddresses are the other base URLs a trigger's serverAddress may name (the
	// operator's --prometheus-allowed-addresses). Any other address is refused before a request.
	AllowedServerAddresses []string
	// Secrets reads the Secrets of authSecretRef (the manager's APIReader: get only, no cache of
	// every Secret). nil refuses every authSecretRef.
	Secrets client.Reader
	// Logger receives what is never shown to the ElastiService's author: Prometheus' own error
	// text. Default: discard.
	Logger logr.Logger
	// Now is the clock (measures evaluation duration); nil means time.Now.
	Now func() time.Time

	once       sync.Once
	servers    *Servers
	serversErr error
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
		res.Triggers = append(res.Triggers, e.evaluate(ctx, es, &es.Spec.Triggers[i]))
	}
	res.Duration = e.now().Sub(start)
	return res
}

func (e *Evaluator) evaluate(ctx context.Context, es *v1alpha1.ElastiService, t *v1alpha1.ScaleTrigger) TriggerResult {
	cooldown := es.Spec.Cooldown()
	if t.Type != v1alpha1.TriggerTypePrometheus {
		return TriggerResult{Err: fmt.Errorf("trigger type %q is not supported; supported: prometheus", t.Type)}
	}
	threshold, err := t.Metadata.ThresholdValue()
	if err != nil {
		return TriggerResult{Err: err}
	}
	q, err := e.querier(ctx, es, t)
	if err != nil {
		return TriggerResult{Threshold: threshold, Err: err}
	}
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

// querier checks where the trigger's queries may go and what they may carry (access.go) and
// returns a querier for it; nothing has been sent when it returns an error.
func (e *Evaluator) querier(ctx context.Context, es *v1alpha1.ElastiService, t *v1alpha1.ScaleTrigger) (querier, error) {
	e.once.Do(func() { e.servers, e.serversErr = NewServers(e.DefaultServerAddress, e.AllowedServerAddresses) })
	if e.serversErr != nil {
		return querier{}, fmt.Errorf("the operator's Prometheus addresses: %w", e.serversErr)
	}
	base, err := e.servers.Resolve(t.Metadata.ServerAddress)
	if err != nil {
		return querier{}, err
	}
	if err := checkHeaders(t.Metadata.Headers); err != nil {
		return querier{}, err
	}
	authz, err := credentials(ctx, e.Secrets, es.Namespace, t.Metadata.AuthSecretRef)
	if err != nil {
		return querier{}, err
	}
	return querier{client: noRedirects(e.client()), base: base, headers: t.Metadata.Headers, authorization: authz, log: e.logger()}, nil
}

func (e *Evaluator) client() *http.Client {
	if e.HTTPClient != nil {
		return e.HTTPClient
	}
	return http.DefaultClient
}

func (e *Evaluator) logger() logr.Logger {
	if e.Logger.GetSink() == nil {
		return logr.Discard()
	}
	return e.Logger
}

func (e *Evaluator) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// querier sends instant queries to one allowed Prometheus.
type querier struct {
	client *http.Client
	// base is the allowed base URL (the operator's, never the user's string).
	base          *url.URL
	headers       map[string]string
	authorization string
	log           logr.Logger
}

// query runs GET <base>/api/v1/query?query=<q> and returns the samples. An answer other than a
// 2xx with a Prometheus success body is an error that names the status code and, for a
// Prometheus error body, its errorType when it is one of Prometheus' own; the body's text never
// goes into the error (it ends up in a condition and an Event that the ElastiService's author
// reads), only into the operator's log.
func (q querier) query(ctx context.Context, promQL string) ([]float64, error) {
	u := q.base.JoinPath("api", "v1", "query")
	u.RawQuery = url.Values{"query": {promQL}}.Encode()
	server := q.base.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("building query for %s: %w", server, err)
	}
	for k, v := range q.headers {
		req.Header.Set(k, v)
	}
	if q.authorization != "" {
		req.Header.Set("Authorization", q.authorization)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying Prometheus %s: %w", server, redact(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("reading answer of Prometheus %s: %w", server, err)
	}
	if resp.StatusCode/100 != 2 {
		q.logFailure(server, resp.StatusCode, body)
		return nil, fmt.Errorf("querying Prometheus %s: HTTP %d%s", server, resp.StatusCode, describeStatus(resp.StatusCode, body))
	}
	samples, err := parseSamples(body)
	if err != nil {
		q.logFailure(server, resp.StatusCode, body)
		return nil, fmt.Errorf("querying Prometheus %s: %w", server, err)
	}
	return samples, nil
}

// logFailure logs Prometheus' own error text (operator log only).
func (q querier) logFailure(server string, code int, body []byte) {
	var resp apiResponse
	if json.Unmarshal(body, &resp) == nil && resp.Error != "" {
		q.log.V(1).Info("Prometheus answered an error", "server", server, "status", code, "errorType", resp.ErrorType, "error", truncate([]byte(resp.Error)))
		return
	}
	q.log.V(1).Info("Prometheus answered something that is not an API answer", "server", server, "status", code, "bytes", len(body))
}

// describeStatus is a fixed text for a non-2xx answer: Prometheus' errorType when the body is a
// Prometheus error of a known type, else what the status code means.
func describeStatus(code int, body []byte) string {
	var resp apiResponse
	if json.Unmarshal(body, &resp) == nil && knownErrorTypes[resp.ErrorType] {
		return " (" + resp.ErrorType + ": the query may be wrong; the operator's log has Prometheus' message)"
	}
	switch {
	case code/100 == 3:
		return " (a redirect; redirects are not followed: set serverAddress to the final address)"
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return " (check metadata.authSecretRef)"
	}
	return " (the answer is not shown)"
}

// redact drops the URL from a transport error: it holds the query, which is fine, but nothing
// else of it helps, and it keeps messages short.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
