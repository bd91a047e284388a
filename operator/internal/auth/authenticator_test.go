package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// fakeReviewer answers TokenReviews from a table of token → status.
type fakeReviewer struct {
	statuses map[string]authenticationv1.TokenReviewStatus
	err      error
	calls    int
}

func (f *fakeReviewer) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	f.calls++
	if f.err != nil {
		return f.err
	}
	tr := obj.(*authenticationv1.TokenReview)
	tr.Status = f.statuses[tr.Spec.Token]
	return nil
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
	return New(Options{Reviewer: rev, Pods: c, Trust: testTrust(t, c)})
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
		"native":      bound("edge", "gw", "gw-native", "u1"),
		"regular":     bound("edge", "gw", "gw-regular", "u2"),
		"rejected":    {Authenticated: false, Error: "token has expired"},
		"otheraud":    bound("edge", "gw", "gw-native", "u1", "https://kubernetes.default.svc"),
		"user":        {Authenticated: true, Audiences: []string{names.DefaultAudience}, User: authenticationv1.UserInfo{Username: "alice"}},
		"unbound":     {Authenticated: true, Audiences: []string{names.DefaultAudience}, User: authenticationv1.UserInfo{Username: "system:serviceaccount:edge:gw"}},
		"gone":        bound("edge", "gw", "gw-gone", "u9"),
		"replaced":    bound("edge", "gw", "gw-native", "old-uid"),
		"nolabel":     bound("edge", "gw", "gw-nolabel", "u3"),
		"nocontainer": bound("edge", "gw", "gw-nocontainer", "u4"),
		"forged":      bound("plain", "gw", "gw-forged", "u5"),
		"foreign":     bound("edge", "gw", "gw-foreign", "u6"),
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
	}{
		{name: "native sidecar", header: "Bearer native", want: Caller{Namespace: "edge", PodName: "gw-native", PodUID: "u1", ServiceAccount: "gw"}},
		{name: "regular sidecar, lowercase scheme", header: "bearer regular", want: Caller{Namespace: "edge", PodName: "gw-regular", PodUID: "u2", ServiceAccount: "gw"}},
		{name: "no header", wantErr: "missing Authorization header"},
		{name: "basic auth", header: "Basic dXNlcjpwYXNz", wantErr: `not "Bearer <token>"`},
		{name: "empty bearer", header: "Bearer ", wantErr: `not "Bearer <token>"`},
		{name: "rejected token", header: "Bearer rejected", wantErr: "token has expired"},
		{name: "unknown token", header: "Bearer nope", wantErr: "token not accepted"},
		{name: "wrong audience", header: "Bearer otheraud", wantErr: `audience is not "elasti.dev/resolver"`},
		{name: "not a service account", header: "Bearer user", wantErr: `"alice" is not a ServiceAccount`},
		{name: "not bound to a pod", header: "Bearer unbound", wantErr: "not bound to a pod"},
		{name: "pod gone", header: "Bearer gone", wantErr: "pod edge/gw-gone does not exist"},
		{name: "pod replaced", header: "Bearer replaced", wantErr: "has been replaced"},
		{name: "pod without resolver label", header: "Bearer nolabel", wantErr: "label elasti.dev/resolver=true missing"},
		{name: "pod without sidecar container", header: "Bearer nocontainer", wantErr: "no container named elasti-resolver"},
		{name: "forged sidecar in a namespace that did not opt in", header: "Bearer forged", wantErr: "namespace plain has not opted in"},
		{name: "sidecar container with a foreign image", header: "Bearer foreign", wantErr: `runs image "attacker.example/sidecar:test"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(context.Background(), request(tt.header))
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
	_, err := a.Authenticate(context.Background(), request("Bearer x"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnauthenticated)
	assert.Contains(t, err.Error(), "reviewing token: connection refused")
}

// jwt builds an unsigned token with an exp claim (the fake reviewer does not verify it).
func jwt(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(fmt.Appendf(nil, `{"exp":%d}`, exp.Unix())) + ".sig"
}

func TestReviewCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	token := jwt(now.Add(5 * time.Minute))
	rev := &fakeReviewer{statuses: map[string]authenticationv1.TokenReviewStatus{token: bound("edge", "gw", "gw-native", "u1")}}
	a := newTestAuth(t, rev, sidecarPod("gw-native", "u1", true, true))
	a.cache.now = func() time.Time { return now }
	auth := func() error { _, err := a.AuthenticateToken(context.Background(), token); return err }

	require.NoError(t, auth())
	require.NoError(t, auth())
	assert.Equal(t, 1, rev.calls, "second call served from the cache")

	now = now.Add(4*time.Minute + 31*time.Second) // within 30s of expiry
	require.NoError(t, auth())
	assert.Equal(t, 2, rev.calls, "reviewed again shortly before expiry")

	_, err := a.AuthenticateToken(context.Background(), "bad")
	require.Error(t, err)
	_, err = a.AuthenticateToken(context.Background(), "bad")
	require.Error(t, err)
	assert.Equal(t, 3, rev.calls, "a rejected token is cached briefly too")
	now = now.Add(negativeTTL)
	_, err = a.AuthenticateToken(context.Background(), "bad")
	require.Error(t, err)
	assert.Equal(t, 4, rev.calls)
}

func TestReviewCacheIsBounded(t *testing.T) {
	c := newReviewCache(100)
	for i := range 1000 {
		c.put(fmt.Sprintf("token-%d", i), Caller{}, nil)
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
