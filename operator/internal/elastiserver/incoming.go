package elastiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/pkg/messages"
	"github.com/elasti-dev/elasti/pkg/scaling"
)

// States in an incoming-request answer.
const (
	// StateScalingUp: this request raised the target from zero.
	StateScalingUp = "scaling-up"
	// StateWaking: the target has replicas but no ready endpoint yet.
	StateWaking = "waking"
	// StateReady: the target has at least one ready endpoint.
	StateReady = "ready"
)

// IncomingRequestResponse is the 202 answer to a RequestCount.
type IncomingRequestResponse struct {
	// Service is "namespace/name".
	Service string `json:"service"`
	// State is StateScalingUp, StateWaking or StateReady.
	State string `json:"state"`
	// Replicas is the target's spec replicas after the scale-up decision.
	Replicas int32 `json:"replicas"`
}

// bodyReadTimeout bounds reading a POST body (the server has no global ReadTimeout: streams).
const bodyReadTimeout = 10 * time.Second

// serveIncomingRequest handles POST /informer/incoming-request. The checks run in this order,
// each with its own answer: 401 authentication, 405 method, 413 size, 400 body, 429 rate, 503 if
// the lookup failed, 404 unknown service, 409 a report sent before the last scale to zero, then
// 503 if the scale-up failed, else 202.
func (s *Server) serveIncomingRequest(w http.ResponseWriter, r *http.Request) {
	rec := &codeRecorder{ResponseWriter: w}
	start := time.Now()
	defer func() {
		code := codeLabel(rec.code)
		requestCounts.WithLabelValues(code).Inc()
		requestCountDuration.WithLabelValues(code).Observe(time.Since(start).Seconds())
	}()
	s.incomingRequest(rec, r, start)
}

// incomingRequest answers one RequestCount received at start.
func (s *Server) incomingRequest(w http.ResponseWriter, r *http.Request, start time.Time) {
	ctx := r.Context()
	caller, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	rc, ok := readRequestCount(w, r)
	if !ok {
		return
	}
	// Rate-limit before the lookup: a miss in the cache falls back to the API server, and a flood
	// of unknown services must not turn into a flood of API reads.
	if ok, wait := s.limiter.allow(caller.PodUID + "|" + rc.Key()); !ok {
		writeRetryAfter(w, http.StatusTooManyRequests, retryAfterSeconds(wait),
			fmt.Sprintf("too many RequestCounts for %s from pod %s; retry after the Retry-After delay", rc.Key(), caller.Key()))
		return
	}
	es, err := s.lookup(ctx, rc)
	if err != nil {
		s.log.Error(err, "looking up the ElastiService of a RequestCount", "service", rc.Key())
		writeRetryAfter(w, http.StatusServiceUnavailable, 1, "looking up the ElastiService failed; retry")
		return
	}
	if es == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no ElastiService names Service %s", rc.Key()))
		return
	}
	log := s.log.WithValues("service", rc.Key(), "elastiservice", client.ObjectKeyFromObject(es), "caller", caller.Key(), "count", rc.Count)
	if msg, stale := staleReport(rc, es); stale {
		log.V(1).Info("ignoring a RequestCount sent before the last scale to zero", "sentAt", rc.SentAt)
		writeError(w, http.StatusConflict, msg)
		return
	}
	if s.opts.Traffic != nil && rc.Forwarded > 0 {
		s.opts.Traffic.Add(rc.Key(), rc.Forwarded, s.opts.Now())
	}
	if rc.Count == 0 {
		// Activity only: a request was served by a pod that could answer. The target is not
		// scaled: it may have been scaled to zero since (by hand or by the leader), and nothing
		// waits for it.
		if err := s.markActive(ctx, es); err != nil {
			log.Error(err, "recording activity")
		}
		writeJSON(w, http.StatusAccepted, IncomingRequestResponse{Service: rc.Key(), State: s.targetState(rc.Key(), false)})
		return
	}
	// Requests wait: the scale-up first, then the activity mark, so that a wake-up's scale write
	// does not wait for another API write. The mark cancels a scale-down in progress (the loop
	// reads it right before scaling to zero); a scale-down that read it a moment too early is
	// undone by the sidecar's next report of the requests it still holds, in either order.
	want, raise := s.wakeSize(rc, caller, es)
	var once sync.Once // a write retried after a conflict is the same decision
	decided := scaling.WithBeforeWrite(ctx, func() { once.Do(func() { wakeDecision.Observe(time.Since(start).Seconds()) }) })
	res, err := s.opts.ScaleHandler.ScaleUpTo(decided, es, want, raise)
	if markErr := s.markActive(ctx, es); markErr != nil {
		log.Error(markErr, "recording activity") // the wake-up matters more; carry on
	}
	if err != nil {
		log.Error(err, "scale-up failed")
		writeRetryAfter(w, http.StatusServiceUnavailable, 1, err.Error())
		return
	}
	if res.ScaledFromZero {
		s.bursts.wokeUp(client.ObjectKeyFromObject(es).String(), s.opts.Now())
	}
	if res.Raised {
		burstRaises.Inc()
		log.Info("RequestCount raised the target for the requests still held", "replicas", res.Replicas)
	}
	state := s.targetState(rc.Key(), res.ScaledFromZero)
	if res.ScaledFromZero {
		// At info: which sidecar woke a target, and when it saw the requests, answers "who woke
		// my service?" (and showed, in CI, a wake right after a scale to zero by hand).
		log.Info("RequestCount woke the target", "replicas", res.Replicas, "sentAt", rc.SentAt)
	} else {
		log.V(1).Info("RequestCount accepted", "state", state, "replicas", res.Replicas)
	}
	writeJSON(w, http.StatusAccepted, IncomingRequestResponse{Service: rc.Key(), State: state, Replicas: res.Replicas})
}

// wakeSize is the replica count a report of held requests asks for, and whether it may raise a
// target that is up already: es.Spec.MinReplicas() without spec.wakeBurst; with it, the size of
// the requests the sidecars hold at once (bursts), raising only shortly after a scale from zero.
func (s *Server) wakeSize(rc messages.RequestCount, caller auth.Caller, es *v1alpha1.ElastiService) (int32, bool) {
	if es.Spec.WakeBurst == nil {
		return es.Spec.MinReplicas(), false
	}
	now := s.opts.Now()
	key := client.ObjectKeyFromObject(es).String()
	held := s.bursts.observe(key, caller.PodUID, rc.Count, now)
	return es.Spec.WakeReplicas(held), s.bursts.raising(key, es, now)
}

// staleReport tells whether rc reports requests (count > 0) that the sidecar saw waiting before
// the operator last scaled the target to zero (status.lastScaledDownTime), and says why. Such a
// report was retried or delayed past a deliberate scale-down and says nothing about requests
// waiting now: acting on it would wake the target again for nobody. It is answered 409 and
// changes nothing (not even the activity time); a sidecar whose requests still wait reports again
// at once with a new sentAt, which wakes the target. Reports without sentAt (older sidecars) and
// activity reports (which never wake) are never stale. lastScaledDownTime has a resolution of a
// second, so a report sent less than a second before the scale-down still passes: the check
// errs on the side of waking.
func staleReport(rc messages.RequestCount, es *v1alpha1.ElastiService) (string, bool) {
	down := es.Status.LastScaledDownTime
	if rc.Count == 0 || rc.SentAt.IsZero() || down == nil || !rc.SentAt.Before(down.Time) {
		return "", false
	}
	return fmt.Sprintf("RequestCount for %s sent at %s is older than the last scale to zero at %s (status.lastScaledDownTime of ElastiService %s): ignored, so that a late report does not wake the target again; report again with a new sentAt if requests still wait",
		rc.Key(), rc.SentAt.UTC().Format(time.RFC3339Nano), down.UTC().Format(time.RFC3339), client.ObjectKeyFromObject(es)), true
}

// readRequestCount answers 405, 413 or 400, or returns the decoded RequestCount.
func readRequestCount(w http.ResponseWriter, r *http.Request) (messages.RequestCount, bool) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return messages.RequestCount{}, false
	}
	body, ok := readBody(w, r, messages.MaxRequestCountBytes)
	if !ok {
		return messages.RequestCount{}, false
	}
	rc, err := messages.DecodeRequestCountBytes(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return messages.RequestCount{}, false
	}
	return rc, true
}

// lookup finds the ElastiService of rc's Service in the cache, then (on a miss) through the
// APIReader if there is one.
func (s *Server) lookup(ctx context.Context, rc messages.RequestCount) (*v1alpha1.ElastiService, error) {
	es, err := elastiServiceFor(ctx, s.opts.Client, rc.Namespace, rc.Svc, s.opts.ServiceIndex)
	if err != nil || es != nil || s.opts.APIReader == nil {
		return es, err
	}
	return elastiServiceFor(ctx, s.opts.APIReader, rc.Namespace, rc.Svc, "")
}

// targetState says how far the target is from serving, from what the streams show.
func (s *Server) targetState(key string, scaledFromZero bool) string {
	if scaledFromZero {
		return StateScalingUp
	}
	if svc, ok := s.state.get(key); ok {
		for _, e := range svc.Endpoints {
			if e.Ready {
				return StateReady
			}
		}
	}
	return StateWaking
}

// authenticate answers 401 (or 503 when the check itself failed) and returns false when the
// caller is not an authenticated sidecar.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (auth.Caller, bool) {
	caller, err := s.opts.Authenticator.Authenticate(r.Context(), r)
	switch {
	case err == nil:
		return caller, true
	case errors.Is(err, auth.ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="elasti"`)
		writeError(w, http.StatusUnauthorized, err.Error())
	case errors.Is(err, auth.ErrThrottled):
		// Not logged: a flood would flood the log too (elasti_operator_signin_rejections_total
		// counts these).
		writeRetryAfter(w, http.StatusServiceUnavailable, 1, err.Error())
	default:
		s.log.Error(err, "authenticating a sidecar", "path", r.URL.Path)
		writeRetryAfter(w, http.StatusServiceUnavailable, 1, "authentication is unavailable; retry")
	}
	return auth.Caller{}, false
}

// readBody reads at most limit bytes of the request body within bodyReadTimeout; a larger body
// is answered 413, a failed read 400.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the limit of %d bytes", r.ContentLength, limit))
		return nil, false
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is over the limit of %d bytes", limit))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return nil, false
	}
	return body, true
}

// codeRecorder remembers the status code written (for metrics).
type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeRecorder) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *codeRecorder) Unwrap() http.ResponseWriter { return c.ResponseWriter }
