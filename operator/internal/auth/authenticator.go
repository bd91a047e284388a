package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

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
	cache    *reviewCache
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
	// CacheSize bounds the number of cached reviews; default 4096.
	CacheSize int
}

// New returns an Authenticator.
func New(opts Options) *Authenticator {
	if opts.Audience == "" {
		opts.Audience = names.DefaultAudience
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
	}
	return &Authenticator{reviewer: opts.Reviewer, pods: opts.Pods, trust: opts.Trust, audience: opts.Audience, cache: newReviewCache(opts.CacheSize)}
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

// AuthenticateToken is Authenticate for a bare token.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (Caller, error) {
	id, err := a.review(ctx, token)
	if err != nil {
		return Caller{}, err
	}
	if err := a.checkPod(ctx, id); err != nil {
		return Caller{}, err
	}
	return id, nil
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

// review returns the identity of token from the cache or a TokenReview.
func (a *Authenticator) review(ctx context.Context, token string) (Caller, error) {
	if e, ok := a.cache.get(token); ok {
		return e.caller, e.err
	}
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{a.audience}}}
	if err := a.reviewer.Create(ctx, tr); err != nil {
		return Caller{}, fmt.Errorf("reviewing token: %w", err)
	}
	caller, err := a.identity(tr)
	a.cache.put(token, caller, err)
	return caller, err
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
