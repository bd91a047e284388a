package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/operator/internal/trust"
	"github.com/elasti-dev/elasti/pkg/names"
)

// fakeReviewer answers TokenReviews from a table of token → status, and counts them.
type fakeReviewer struct {
	mu       sync.Mutex
	statuses map[string]authenticationv1.TokenReviewStatus
	err      error
	calls    int
	// delay makes each review take this long (concurrency tests).
	delay time.Duration
}

func (f *fakeReviewer) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return f.err
	}
	tr := obj.(*authenticationv1.TokenReview)
	tr.Status = f.statuses[tr.Spec.Token]
	return nil
}

func (f *fakeReviewer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func bound(ns, sa, pod, uid string, audiences ...string) authenticationv1.TokenReviewStatus {
	if len(audiences) == 0 {
		audiences = []string{names.DefaultAudience}
	}
	return authenticationv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     audiences,
		User: authenticationv1.UserInfo{
			Username: "system:serviceaccount:" + ns + ":" + sa,
			Extra: map[string]authenticationv1.ExtraValue{
				ExtraPodName: {pod},
				ExtraPodUID:  {uid},
			},
		},
	}
}

func sidecarPod(name, uid string, label bool, init bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: name, UID: types.UID(uid)}}
	if label {
		p.Labels = map[string]string{names.LabelResolver: "true"}
	}
	c := corev1.Container{Name: names.SidecarContainerName, Image: testImage}
	gw := corev1.Container{Name: "gateway", Image: "nginx"}
	if init {
		p.Spec.InitContainers = []corev1.Container{c}
		p.Spec.Containers = []corev1.Container{gw}
	} else {
		p.Spec.Containers = []corev1.Container{gw, c}
	}
	return p
}

// testImage is the sidecar image of the test pods and of the trust policy.
const testImage = "elasti/sidecar:test"

func newTestAuth(t *testing.T, rev *fakeReviewer, pods ...client.Object) *Authenticator {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	edge := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
	plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(append(pods, edge, plain)...).Build()
	return New(Options{Reviewer: rev, Pods: c, Trust: testTrust(t, c), ReviewsPerSecond: -1})
}

func testTrust(t testing.TB, c client.Reader) *trust.Checker {
	p, err := trust.NewPolicy(testImage, "")
	require.NoError(t, err)
	return &trust.Checker{Policy: p, Namespaces: c}
}

func request(header string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

func TestAuthenticate(t *testing.T) {
	noContainer := sidecarPod("gw-nocontainer", "u4", true, false)
	noContainer.Spec.Containers = noContainer.Spec.Containers[:1]
	rev := &fakeReviewer{statuses: map[string]authenticationv1.TokenReviewStatus{
		tok("native"):      bound("edge", "gw", "gw-native", "u1"),
		tok("regular"):     bound("edge", "gw", "gw-regular", "u2"),
		tok("rejected"):    {Authenticated: false, Error: "token has expired"},
		tok("otheraud"):    bound("edge", "gw", "gw-native", "u1", "https://kubernetes.default.svc"),
		tok("user"):        {Authenticated: true, Audiences: []string{names.DefaultAudience}, User: authenticationv1.UserInfo{Username: "alice"}},
		tok("unbound"):     {Authenticated: true, Audiences: []string{names.DefaultAudience}, User: authenticationv1.UserInfo{Username: "system:serviceaccount:edge:gw"}},
		tok("gone"):        bound("edge", "gw", "gw-gone", "u9"),
		tok("replaced"):    bound("edge", "gw", "gw-native", "old-uid"),
		tok("nolabel"):     bound("edge", "gw", "gw-nolabel", "u3"),
		tok("nocontainer"): bound("edge", "gw", "gw-nocontainer", "u4"),
		tok("forged"):      bound("plain", "gw", "gw-forged", "u5"),
		tok("foreign"):     bound("edge", "gw", "gw-foreign", "u6"),
	}}
	forged := sidecarPod("gw-forged", "u5", true, true)
	forged.Namespace = "plain"
	foreign := sidecarPod("gw-foreign", "u6", true, true)
	foreign.Spec.InitContainers[0].Image = "attacker.example/sidecar:test"
	a := newTestAuth(t, rev,
		sidecarPod("gw-native", "u1", true, true),
		sidecarPod("gw-regular", "u2", true, false),
		sidecarPod("gw-nolabel", "u3", false, true),
		noContainer, forged, foreign)
	tests := []struct {
		name    string
		header  string
		want    Caller
		wantErr string
		// reviewed: the token reached a TokenReview
		reviewed bool
	}{
		{name: "native sidecar", header: "Bearer " + tok("native"), want: Caller{Namespace: "edge", PodName: "gw-native", PodUID: "u1", ServiceAccount: "gw"}, reviewed: true},
		{name: "regular sidecar, lowercase scheme", header: "bearer " + tok("regular"), want: Caller{Namespace: "edge", PodName: "gw-regular", PodUID: "u2", ServiceAccount: "gw"}, reviewed: true},
		{name: "no header", wantErr: "missing Authorization header"},
		{name: "basic auth", header: "Basic dXNlcjpwYXNz", wantErr: `not "Bearer <token>"`},
		{name: "empty bearer", header: "Bearer ", wantErr: `not "Bearer <token>"`},
		{name: "not a JWT", header: "Bearer nope", wantErr: "token is not a JWT"},
		{name: "JWT for another audience", header: "Bearer " + jwtFor([]string{"https://kubernetes.default.svc"}, time.Now().Add(time.Hour), "x"), wantErr: `token audience is not "elasti.dev/resolver"`},
		{name: "expired JWT", header: "Bearer " + jwtFor([]string{names.DefaultAudience}, time.Now().Add(-2*time.Minute), "x"), wantErr: "token has expired"},
		{name: "rejected token", header: "Bearer " + tok("rejected"), wantErr: "token has expired", reviewed: true},
		{name: "unknown token", header: "Bearer " + tok("nope"), wantErr: "token not accepted", reviewed: true},
		{name: "review says another audience", header: "Bearer " + tok("otheraud"), wantErr: `audience is not "elasti.dev/resolver"`, reviewed: true},
		{name: "not a service account", header: "Bearer " + tok("user"), wantErr: `"alice" is not a ServiceAccount`, reviewed: true},
		{name: "not bound to a pod", header: "Bearer " + tok("unbound"), wantErr: "not bound to a pod", reviewed: true},
		{name: "pod gone", header: "Bearer " + tok("gone"), wantErr: "pod edge/gw-gone does not exist", reviewed: true},
		{name: "pod replaced", header: "Bearer " + tok("replaced"), wantErr: "has been replaced", reviewed: true},
		{name: "pod without resolver label", header: "Bearer " + tok("nolabel"), wantErr: "label elasti.dev/resolver=true missing", reviewed: true},
		{name: "pod without sidecar container", header: "Bearer " + tok("nocontainer"), wantErr: "no container named elasti-resolver", reviewed: true},
		{name: "forged sidecar in a namespace that did not opt in", header: "Bearer " + tok("forged"), wantErr: "namespace plain has not opted in", reviewed: true},
		{name: "sidecar container with a foreign image", header: "Bearer " + tok("foreign"), wantErr: `runs image "attacker.example/sidecar:test"`, reviewed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rev.count()
			got, err := a.Authenticate(context.Background(), request(tt.header))
			assert.Equal(t, tt.reviewed, rev.count() > before, "TokenReview sent")
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrUnauthenticated)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestAuthenticateReviewerFailureIsNotUnauthenticated(t *testing.T) {
	a := newTestAuth(t, &fakeReviewer{err: errors.New("connection refused")})
	_, err := a.Authenticate(context.Background(), request("Bearer "+tok("x")))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnauthenticated)
	assert.Contains(t, err.Error(), "reviewing token: connection refused")
}

// jwtFor builds a JWT with the given audiences, exp and jti. The signature is junk: the fake
// reviewer does not verify it (nor does precheck, which is the point of the rate limit).
func jwtFor(aud []string, exp time.Time, jti string) string {
	enc := base64.RawURLEncoding.EncodeToString
	audJSON, _ := json.Marshal(aud)
	return enc([]byte(`{"alg":"RS256","kid":"k1"}`)) + "." +
		enc(fmt.Appendf(nil, `{"aud":%s,"exp":%d,"jti":%q,"sub":"system:serviceaccount:edge:gw"}`, audJSON, exp.Unix(), jti)) + "." + enc([]byte("sig"))
}

// jwt is a token for Elasti's audience expiring at exp.
func jwt(exp time.Time) string { return jwtFor([]string{names.DefaultAudience}, exp, "t") }

// tok is a distinct, well-formed token for Elasti's audience. Its expiry is fixed (2100), so the
// same name always gives the same token.
func tok(name string) string {
	return jwtFor([]string{names.DefaultAudience}, time.Unix(4102444800, 0), name)
}

func TestReviewCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	token := jwt(now.Add(5 * time.Minute))
	bad := jwtFor([]string{names.DefaultAudience}, now.Add(time.Hour), "bad")
	rev := &fakeReviewer{statuses: map[string]authenticationv1.TokenReviewStatus{token: bound("edge", "gw", "gw-native", "u1")}}
	a := newTestAuth(t, rev, sidecarPod("gw-native", "u1", true, true))
	clock := func() time.Time { return now }
	a.now, a.accepted.now, a.rejected.now = clock, clock, clock
	auth := func() error { _, err := a.AuthenticateToken(context.Background(), token); return err }

	require.NoError(t, auth())
	require.NoError(t, auth())
	assert.Equal(t, 1, rev.calls, "second call served from the cache")

	now = now.Add(4*time.Minute + 31*time.Second) // within 30s of expiry
	require.NoError(t, auth())
	assert.Equal(t, 2, rev.calls, "reviewed again shortly before expiry")

	_, err := a.AuthenticateToken(context.Background(), bad)
	require.Error(t, err)
	_, err = a.AuthenticateToken(context.Background(), bad)
	require.Error(t, err)
	assert.Equal(t, 3, rev.calls, "a rejected token is cached briefly too")
	now = now.Add(negativeTTL)
	_, err = a.AuthenticateToken(context.Background(), bad)
	require.Error(t, err)
	assert.Equal(t, 4, rev.calls)
}

func TestReviewCacheIsBounded(t *testing.T) {
	c := newReviewCache(100, time.Now)
	for i := range 1000 {
		c.putRejected(fmt.Sprintf("token-%d", i), Caller{}, nil)
		require.LessOrEqual(t, c.len(), 100)
	}
	_, ok := c.get("token-999")
	assert.True(t, ok, "the newest entry survives eviction")
}

func TestTokenExpiry(t *testing.T) {
	exp := time.Unix(1800000000, 0)
	got, ok := tokenExpiry(jwt(exp))
	require.True(t, ok)
	assert.True(t, exp.Equal(got))
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{}`)) + ".c"} {
		_, ok := tokenExpiry(bad)
		assert.False(t, ok, bad)
	}
}

func FuzzTokenExpiry(f *testing.F) {
	f.Add(jwt(time.Unix(1800000000, 0)))
	f.Add("a.eyJleHAiOiJ4In0.c")
	f.Fuzz(func(t *testing.T, token string) {
		_, _ = tokenExpiry(token)
	})
}
