package elastiserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/scaling"
)

// fakeAuth accepts "Bearer <pod name>" for the pods it knows; "Bearer broken" fails like an
// unreachable API server.
type fakeAuth struct {
	mu      sync.Mutex
	callers map[string]auth.Caller
}

func (f *fakeAuth) revoke(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.callers, token)
}

func (f *fakeAuth) Authenticate(_ context.Context, r *http.Request) (auth.Caller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "broken" {
		return auth.Caller{}, errors.New("tokenreviews: connection refused")
	}
	if c, ok := f.callers[token]; ok {
		return c, nil
	}
	return auth.Caller{}, errors.Join(auth.ErrUnauthenticated, errors.New("token not accepted"))
}

// fakeScaler records ScaleUpTo calls and answers with result or err.
type fakeScaler struct {
	mu     sync.Mutex
	calls  []string
	wants  []scaleCall
	result scaling.ScaleResult
	err    error
}

// scaleCall is what one ScaleUpTo asked for.
type scaleCall struct {
	Want  int32
	Raise bool
}

func (f *fakeScaler) ScaleUpTo(ctx context.Context, es *v1alpha1.ElastiService, want int32, raise bool) (scaling.ScaleResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil && (f.result.ScaledFromZero || f.result.Raised) {
		scaling.BeforeWrite(ctx) // as the real handler does before its /scale write
	}
	f.calls = append(f.calls, es.Namespace+"/"+es.Name)
	f.wants = append(f.wants, scaleCall{want, raise})
	return f.result, f.err
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func scheme(t testing.TB) *runtime.Scheme {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, v1alpha1.AddToScheme(s))
	return s
}

func elastiService(ns, name, service string) *v1alpha1.ElastiService {
	return &v1alpha1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec: v1alpha1.ElastiServiceSpec{
			Service:        service,
			ScaleTargetRef: v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: service},
		},
	}
}

func gatewayPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Namespace: "edge", Name: name, UID: types.UID("uid-pod-" + name),
		Labels: map[string]string{names.LabelResolver: "true"},
	}}
}

// fixture is a Server over a fake client, with a patch counter.
type fixture struct {
	srv     *Server
	client  client.Client
	scaler  *fakeScaler
	clock   *clock
	patches map[string]int
}

func newFixture(t testing.TB, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{
		scaler:  &fakeScaler{result: scaling.ScaleResult{Replicas: 1, ScaledFromZero: true}},
		clock:   &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)},
		patches: map[string]int{},
	}
	var mu sync.Mutex
	f.client = fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			mu.Lock()
			f.patches[obj.GetNamespace()+"/"+obj.GetName()]++
			mu.Unlock()
			return c.Patch(ctx, obj, p, opts...)
		}}).Build()
	callers := map[string]auth.Caller{}
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			callers[p.Name] = auth.Caller{Namespace: p.Namespace, PodName: p.Name, PodUID: string(p.UID), ServiceAccount: "gw"}
		}
	}
	srv, err := New(Options{
		Insecure: true, Client: f.client, ScaleHandler: f.scaler, Authenticator: &fakeAuth{callers: callers},
		RateLimit: 1, RateBurst: 3, Now: f.clock.Now, HeartbeatInterval: time.Hour,
	})
	require.NoError(t, err)
	f.srv = srv
	return f
}

// fakeCacheNeverStarted is a cache.Cache whose presence makes the stream wait for Start.
type fakeCacheNeverStarted struct{ cache.Cache }
