package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/operator/internal/trust"
	"github.com/elasti-dev/elasti/pkg/names"
)

// User extra keys the API server sets for a token bound to a pod.
const (
	ExtraPodName = "authentication.kubernetes.io/pod-name"
	ExtraPodUID  = "authentication.kubernetes.io/pod-uid"
)

// ErrUnauthenticated wraps every answer that means "this caller may not call": a server maps it
// to 401. Any other error (the API server could not be asked) is the operator's problem: 503.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrThrottled: the token could not be reviewed now because the operator is at its TokenReview
// rate (Options.ReviewsPerSecond). Not ErrUnauthenticated: a server answers 503 and the sidecar
// retries.
var ErrThrottled = errors.New("too many sign-ins: TokenReview rate limit reached; retry")

// Defaults of Options.
const (
	DefaultCacheSize        = 4096
	DefaultReviewsPerSecond = 10
)

// Caller is an authenticated resolver sidecar.
type Caller struct {
	Namespace string
	PodName   string
	PodUID    string
	// ServiceAccount is the pod's ServiceAccount name.
	ServiceAccount string
}

// Key returns "namespace/pod".
func (c Caller) Key() string { return c.Namespace + "/" + c.PodName }

// TokenReviewer creates TokenReviews (a controller-runtime client does).
type TokenReviewer interface {
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
}

// Authenticator authenticates resolver sidecars. Build it with New.
type Authenticator struct {
	reviewer TokenReviewer
	pods     client.Reader
	audience string
	trust    *trust.Checker
	limiter  *rate.Limiter
	flight   singleflight.Group
	now      func() time.Time
	// accepted and rejected: see cache.go.
	accepted, rejected *reviewCache
}

// Options configure an Authenticator.
type Options struct {
	// Reviewer creates TokenReviews (mgr.GetClient()).
	Reviewer TokenReviewer
	// Pods reads pods, normally from the manager's cache (mgr.GetClient()).
	Pods client.Reader
	// Trust decides which pods carry a sidecar Elasti injected (shared with the controller); nil
	// trusts no pod.
	Trust *trust.Checker
	// Audience that sidecar tokens must carry; default names.DefaultAudience.
	Audience string
	// CacheSize bounds each of the two review caches (accepted, rejected); default
	// DefaultCacheSize.
	CacheSize int
	// ReviewsPerSecond bounds the TokenReviews this Authenticator sends, whatever the callers
	// send (burst: twice as many, at least 1); above it a sign-in fails with ErrThrottled.
	// Default DefaultReviewsPerSecond; a negative value means no limit.
	ReviewsPerSecond float64
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// New returns an Authenticator.
func New(opts Options) *Authenticator {
	if opts.Audience == "" {
		opts.Audience = names.DefaultAudience
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.ReviewsPerSecond == 0 {
		opts.ReviewsPerSecond = DefaultReviewsPerSecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	limiter := rate.NewLimiter(rate.Inf, 0)
	if opts.ReviewsPerSecond > 0 {
		limiter = rate.NewLimiter(rate.Limit(opts.ReviewsPerSecond), max(1, int(2*opts.ReviewsPerSecond)))
	}
	return &Authenticator{
		reviewer: opts.Reviewer, pods: opts.Pods, trust: opts.Trust, audience: opts.Audience,
		limiter: limiter, now: opts.Now,
		accepted: newReviewCache(opts.CacheSize, opts.Now), rejected: newReviewCache(opts.CacheSize, opts.Now),
	}
}

// Authenticate returns the sidecar that sent r. An error wrapping ErrUnauthenticated says what
// the caller got wrong; any other error means the check itself failed.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Caller, error) {
	token, err := bearerToken(r)
	if err != nil {
		return Caller{}, err
	}
	return a.AuthenticateToken(ctx, token)
}

// AuthenticateToken is Authenticate for a bare token. In order: a cached accepted review (the
// pod is checked every time), a cached refusal, the precheck (no request), then a rate-limited
// TokenReview shared by concurrent callers with the same token, and the pod check.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (Caller, error) {
	if e, ok := a.accepted.get(token); ok {
		if err := a.checkPod(ctx, e.caller); err != nil {
			return Caller{}, err
		}
		return e.caller, nil
	}
	if e, ok := a.rejected.get(token); ok {
		if e.err != nil {
			return Caller{}, e.err
		}
		return a.admit(ctx, token, e.caller) // reviewed, but its pod was not trusted: look again
	}
	if err := precheck(token, a.audience, a.now()); err != nil {
		var pe *precheckError
		if errors.As(err, &pe) {
			signinRejections.WithLabelValues(pe.reason).Inc()
		}
		return Caller{}, err
	}
	key := sha256.Sum256([]byte(token))
	v, err, _ := a.flight.Do(string(key[:]), func() (any, error) { return a.review(ctx, token) })
	if err != nil {
		return Caller{}, err
	}
	return a.admit(ctx, token, v.(Caller))
}

// admit checks the pod of a reviewed caller and caches the outcome: a trusted sidecar's review in
// accepted, anything else in rejected.
func (a *Authenticator) admit(ctx context.Context, token string, caller Caller) (Caller, error) {
	err := a.checkPod(ctx, caller)
	switch {
	case err == nil:
		a.accepted.putAccepted(token, caller)
		a.rejected.delete(token)
		return caller, nil
	case errors.Is(err, ErrUnauthenticated):
		if _, cached := a.rejected.get(token); !cached {
			a.rejected.putRejected(token, caller, nil)
		}
	}
	return Caller{}, err
}

func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", fmt.Errorf("%w: missing Authorization header; send \"Authorization: Bearer <projected ServiceAccount token>\"", ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", fmt.Errorf("%w: Authorization header is not \"Bearer <token>\"", ErrUnauthenticated)
	}
	return strings.TrimSpace(token), nil
}

// review asks the API server who token belongs to, within the rate limit. A refusal is cached in
// rejected; a failure to ask is not cached.
func (a *Authenticator) review(ctx context.Context, token string) (Caller, error) {
	if !a.limiter.Allow() {
		signinRejections.WithLabelValues(rejectThrottled).Inc()
		return Caller{}, ErrThrottled
	}
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{a.audience}}}
	if err := a.reviewer.Create(ctx, tr); err != nil {
		tokenReviews.WithLabelValues("error").Inc()
		return Caller{}, fmt.Errorf("reviewing token: %w", err)
	}
	caller, err := a.identity(tr)
	if err != nil {
		tokenReviews.WithLabelValues("unauthenticated").Inc()
		a.rejected.putRejected(token, Caller{}, err)
		return Caller{}, err
	}
	tokenReviews.WithLabelValues("authenticated").Inc()
	return caller, nil
}

// identity turns a TokenReview's answer into a Caller.
func (a *Authenticator) identity(tr *authenticationv1.TokenReview) (Caller, error) {
	st := tr.Status
	if !st.Authenticated {
		msg := st.Error
		if msg == "" {
			msg = "token not accepted"
		}
		return Caller{}, fmt.Errorf("%w: %s", ErrUnauthenticated, msg)
	}
	if !slices.Contains(st.Audiences, a.audience) {
		return Caller{}, fmt.Errorf("%w: token audience is not %q", ErrUnauthenticated, a.audience)
	}
	ns, sa, ok := parseServiceAccount(st.User.Username)
	if !ok {
		return Caller{}, fmt.Errorf("%w: %q is not a ServiceAccount", ErrUnauthenticated, st.User.Username)
	}
	pod, uid := first(st.User.Extra[ExtraPodName]), first(st.User.Extra[ExtraPodUID])
	if pod == "" || uid == "" {
		return Caller{}, fmt.Errorf("%w: token is not bound to a pod; mount a projected ServiceAccount token with audience %q", ErrUnauthenticated, a.audience)
	}
	return Caller{Namespace: ns, PodName: pod, PodUID: uid, ServiceAccount: sa}, nil
}

// checkPod requires the caller's pod to exist with its UID and to carry a sidecar Elasti trusts
// (trust.Policy: the same rules the controller applies before listing a sidecar in a slice).
func (a *Authenticator) checkPod(ctx context.Context, c Caller) error {
	pod := &corev1.Pod{}
	if err := a.pods.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.PodName}, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: pod %s does not exist", ErrUnauthenticated, c.Key())
		}
		return fmt.Errorf("reading pod %s: %w", c.Key(), err)
	}
	if string(pod.UID) != c.PodUID {
		return fmt.Errorf("%w: pod %s has been replaced (uid %s, token bound to %s)", ErrUnauthenticated, c.Key(), pod.UID, c.PodUID)
	}
	if err := a.trust.CheckPod(ctx, pod); err != nil {
		if errors.Is(err, trust.ErrUntrusted) {
			return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		return err
	}
	return nil
}

// parseServiceAccount splits "system:serviceaccount:<ns>:<name>".
func parseServiceAccount(user string) (ns, name string, ok bool) {
	rest, found := strings.CutPrefix(user, "system:serviceaccount:")
	if !found {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	return ns, name, ok && ns != "" && name != ""
}

func first(v authenticationv1.ExtraValue) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
