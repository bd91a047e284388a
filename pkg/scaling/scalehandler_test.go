package scaling

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/scale"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
)

// memScales is an in-memory /scale store with resourceVersions, a write counter, optional
// injected conflicts and a gate that holds Gets (to make calls overlap).
type memScales struct {
	mu        sync.Mutex
	replicas  map[string]int32
	rv        map[string]int
	updates   int
	conflicts int
	gate      chan struct{}
	// inGet and maxInGet count concurrent Gets (coalescing keeps it at 1 per target).
	inGet, maxInGet int
	// gets counts every Get.
	gets int
}

func newMemScales() *memScales {
	return &memScales{replicas: map[string]int32{}, rv: map[string]int{}}
}

func (m *memScales) Scales(ns string) scale.ScaleInterface { return &memNS{m: m, ns: ns} }

type memNS struct {
	m  *memScales
	ns string
}

func (n *memNS) key(gr schema.GroupResource, name string) string {
	return n.ns + "/" + gr.String() + "/" + name
}

func (n *memNS) Get(_ context.Context, gr schema.GroupResource, name string, _ metav1.GetOptions) (*autoscalingv1.Scale, error) {
	n.m.mu.Lock()
	n.m.inGet++
	n.m.gets++
	n.m.maxInGet = max(n.m.maxInGet, n.m.inGet)
	n.m.mu.Unlock()
	if n.m.gate != nil {
		<-n.m.gate
	}
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	n.m.inGet--
	k := n.key(gr, name)
	r, ok := n.m.replicas[k]
	if !ok {
		return nil, apierrors.NewNotFound(gr, name)
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Namespace: n.ns, Name: name, ResourceVersion: strconv.Itoa(n.m.rv[k])},
		Spec:       autoscalingv1.ScaleSpec{Replicas: r},
		Status:     autoscalingv1.ScaleStatus{Replicas: r},
	}, nil
}

func (n *memNS) Update(_ context.Context, gr schema.GroupResource, s *autoscalingv1.Scale, _ metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	k := n.key(gr, s.Name)
	if n.m.conflicts > 0 {
		n.m.conflicts--
		n.m.rv[k]++ // someone else wrote
		return nil, apierrors.NewConflict(gr, s.Name, nil)
	}
	if s.ResourceVersion != strconv.Itoa(n.m.rv[k]) {
		return nil, apierrors.NewConflict(gr, s.Name, nil)
	}
	n.m.rv[k]++
	n.m.updates++
	n.m.replicas[k] = s.Spec.Replicas
	return s, nil
}

func (n *memNS) Patch(context.Context, schema.GroupVersionResource, string, types.PatchType, []byte, metav1.PatchOptions) (*autoscalingv1.Scale, error) {
	panic("not used")
}

const deployKey = "shop/deployments.apps/orders"

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	return m
}

func testES(min int32, keda string) *v1alpha1.ElastiService {
	es := &v1alpha1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders"},
		Spec: v1alpha1.ElastiServiceSpec{
			Service:           "orders",
			ScaleTargetRef:    v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "orders"},
			MinTargetReplicas: min,
		},
	}
	if keda != "" {
		es.Spec.Autoscaler = &v1alpha1.AutoscalerSpec{Type: v1alpha1.AutoscalerKEDA, Name: keda}
	}
	return es
}

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

func scaledObject(annotations map[string]string) *unstructured.Unstructured {
	so := &unstructured.Unstructured{}
	so.SetGroupVersionKind(ScaledObjectGVK)
	so.SetNamespace("shop")
	so.SetName("orders-so")
	so.SetAnnotations(annotations)
	return so
}

func newHandler(t *testing.T, sc *memScales, objs ...client.Object) (*ScaleHandler, client.Client) {
	t.Helper()
	es := testES(2, "")
	c := fake.NewClientBuilder().WithScheme(testScheme()).
		WithObjects(append([]client.Object{es}, objs...)...).
		WithStatusSubresource(es).Build()
	h := NewScaleHandler(c, sc, testMapper())
	h.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	return h, c
}

func TestScaleUp(t *testing.T) {
	tests := []struct {
		name         string
		start        int32
		min          int32
		conflicts    int
		want         ScaleResult
		wantUpdates  int
		wantRecorded bool
	}{
		{name: "from zero to min", start: 0, min: 2, want: ScaleResult{Replicas: 2, ScaledFromZero: true}, wantUpdates: 1, wantRecorded: true},
		{name: "min defaults to 1", start: 0, min: 0, want: ScaleResult{Replicas: 1, ScaledFromZero: true}, wantUpdates: 1, wantRecorded: true},
		{name: "already up: no write", start: 3, min: 2, want: ScaleResult{Replicas: 3}},
		{name: "conflict is retried", start: 0, min: 1, conflicts: 2, want: ScaleResult{Replicas: 1, ScaledFromZero: true}, wantUpdates: 1, wantRecorded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newMemScales()
			sc.replicas[deployKey] = tt.start
			sc.conflicts = tt.conflicts
			h, c := newHandler(t, sc)
			got, err := h.ScaleUp(context.Background(), testES(tt.min, ""))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantUpdates, sc.updates)
			assert.Equal(t, tt.want.Replicas, sc.replicas[deployKey])
			es := &v1alpha1.ElastiService{}
			require.NoError(t, c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "orders"}, es))
			assert.Equal(t, tt.wantRecorded, es.Status.LastScaledUpTime != nil)
		})
	}
}

func TestScaleUpTo(t *testing.T) {
	tests := []struct {
		name         string
		start, want  int32
		raise        bool
		wantResult   ScaleResult
		wantUpdates  int
		wantRecorded bool
	}{
		{name: "from zero to the burst's size", start: 0, want: 5, wantResult: ScaleResult{Replicas: 5, ScaledFromZero: true}, wantUpdates: 1, wantRecorded: true},
		{name: "from zero, want below the minimum: the minimum", start: 0, want: 1, wantResult: ScaleResult{Replicas: 2, ScaledFromZero: true}, wantUpdates: 1, wantRecorded: true},
		{name: "up, no raise: left alone", start: 2, want: 5, wantResult: ScaleResult{Replicas: 2}},
		{name: "up, raise: raised", start: 2, want: 5, raise: true, wantResult: ScaleResult{Replicas: 5, Raised: true}, wantUpdates: 1},
		{name: "raise never lowers", start: 7, want: 5, raise: true, wantResult: ScaleResult{Replicas: 7}},
		{name: "raise to what it has: no write", start: 5, want: 5, raise: true, wantResult: ScaleResult{Replicas: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newMemScales()
			sc.replicas[deployKey] = tt.start
			h, c := newHandler(t, sc)
			got, err := h.ScaleUpTo(context.Background(), testES(2, ""), tt.want, tt.raise)
			require.NoError(t, err)
			assert.Equal(t, tt.wantResult, got)
			assert.Equal(t, tt.wantUpdates, sc.updates)
			assert.Equal(t, tt.wantResult.Replicas, sc.replicas[deployKey])
			es := &v1alpha1.ElastiService{}
			require.NoError(t, c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "orders"}, es))
			assert.Equal(t, tt.wantRecorded, es.Status.LastScaledUpTime != nil, "only a scale from zero records lastScaledUpTime")
		})
	}
}

func TestScaleUpErrorsNameTheTarget(t *testing.T) {
	h, _ := newHandler(t, newMemScales())
	_, err := h.ScaleUp(context.Background(), testES(1, ""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "scaling shop/orders Deployment")
	assert.True(t, apierrors.IsNotFound(err), "the API error stays inspectable: %v", err)

	es := testES(1, "")
	es.Spec.ScaleTargetRef.Kind = "Rollout"
	es.Spec.ScaleTargetRef.APIVersion = "argoproj.io/v1alpha1"
	_, err = h.ScaleUp(context.Background(), es)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "finding the resource of argoproj.io/v1alpha1, Kind=Rollout")
}

func TestScaleUpCoalescesConcurrentCalls(t *testing.T) {
	sc := newMemScales()
	sc.replicas[deployKey] = 0
	sc.gate = make(chan struct{})
	h, _ := newHandler(t, sc)

	const callers = 8
	var wg sync.WaitGroup
	results := make([]ScaleResult, callers)
	started := make(chan struct{}, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started <- struct{}{}
			r, err := h.ScaleUp(context.Background(), testES(2, ""))
			assert.NoError(t, err)
			results[i] = r
		}()
	}
	for range callers {
		<-started
	}
	// Give the callers time to pile up behind the held Get. This wait only makes the test more
	// likely to catch a missing coalescing; with coalescing the assertions hold however the
	// goroutines are scheduled (late callers start a new flight only after the first ended).
	time.Sleep(50 * time.Millisecond)
	close(sc.gate)
	wg.Wait()
	assert.Equal(t, 1, sc.maxInGet, "callers of one target share one flight, never parallel reads")
	assert.Equal(t, 1, sc.updates, "one /scale write for all callers")
	for _, r := range results {
		assert.Equal(t, int32(2), r.Replicas)
	}
}

func TestScaleToZero(t *testing.T) {
	sc := newMemScales()
	sc.replicas[deployKey] = 3
	h, _ := newHandler(t, sc)
	require.NoError(t, h.ScaleToZero(context.Background(), testES(1, "")))
	assert.Equal(t, int32(0), sc.replicas[deployKey])
	require.NoError(t, h.ScaleToZero(context.Background(), testES(1, "")))
	assert.Equal(t, 1, sc.updates, "second call finds 0 and does not write")
}

func TestKEDAPauseAndUnpause(t *testing.T) {
	sc := newMemScales()
	sc.replicas[deployKey] = 3
	h, c := newHandler(t, sc, scaledObject(map[string]string{"keep": "me"}))
	ctx := context.Background()
	get := func() map[string]string {
		so := scaledObject(nil)
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(so), so))
		return so.GetAnnotations()
	}

	require.NoError(t, h.ScaleToZero(ctx, testES(1, "orders-so")))
	assert.Equal(t, map[string]string{"keep": "me", names.KEDAPausedAnnotation: "true", names.KEDAPausedReplicasAnnotation: "0"}, get())
	assert.Equal(t, int32(0), sc.replicas[deployKey])

	res, err := h.ScaleUp(ctx, testES(1, "orders-so"))
	require.NoError(t, err)
	assert.True(t, res.ScaledFromZero)
	assert.Equal(t, map[string]string{"keep": "me"}, get())

	// A ScaledObject that does not exist neither blocks a scale-down nor a scale-up.
	require.NoError(t, h.ScaleToZero(ctx, testES(1, "missing")))
	_, err = h.ScaleUp(ctx, testES(1, "missing"))
	require.NoError(t, err)
}

// TestScaleUpKubeElastiKind: KubeElasti's kind "deployments" scales the Deployment.
func TestScaleUpKubeElastiKind(t *testing.T) {
	sc := newMemScales()
	sc.replicas[deployKey] = 0
	h, _ := newHandler(t, sc)
	es := testES(2, "")
	es.Spec.ScaleTargetRef.Kind = "deployments"
	got, err := h.ScaleUp(context.Background(), es)
	require.NoError(t, err)
	assert.Equal(t, ScaleResult{Replicas: 2, ScaledFromZero: true}, got)
	assert.Equal(t, int32(2), sc.replicas[deployKey])
}

// TestBeforeWriteHook: the hook of WithBeforeWrite runs right before each /scale write (once per
// attempt, so again after a conflict), never when no write is needed.
func TestBeforeWriteHook(t *testing.T) {
	for _, tt := range []struct {
		name             string
		start, conflicts int
		wantCalls        int
	}{
		{name: "a scale from zero", start: 0, wantCalls: 1},
		{name: "a conflict retried", start: 0, conflicts: 1, wantCalls: 2},
		{name: "already up: no write, no call", start: 2, wantCalls: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc := newMemScales()
			sc.replicas[deployKey] = int32(tt.start)
			sc.conflicts = tt.conflicts
			h, _ := newHandler(t, sc)
			calls, updatesSeen := 0, -1
			ctx := WithBeforeWrite(context.Background(), func() {
				calls++
				sc.mu.Lock()
				updatesSeen = sc.updates // the write has not happened yet
				sc.mu.Unlock()
			})
			_, err := h.ScaleUp(ctx, testES(1, ""))
			require.NoError(t, err)
			assert.Equal(t, tt.wantCalls, calls)
			if tt.wantCalls > 0 {
				assert.Equal(t, 0, updatesSeen, "the hook runs before the write")
			}
		})
	}
}

// TestScaleUpFromCache: a Deployment the client shows at 0 is scaled with one /scale write and
// no read, with the cached resourceVersion as its precondition; a stale cache costs a conflict
// and the read-decide-write path, never a wrong write or a missed wake-up.
func TestScaleUpFromCache(t *testing.T) {
	deploy := func(replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}}
	}
	for _, tt := range []struct {
		name                  string
		cached, actual        int32
		stale                 bool // the target changed since the cached version
		want                  ScaleResult
		wantGets, wantUpdates int
	}{
		{name: "cache at 0, current: one write, no read", cached: 0, actual: 0, want: ScaleResult{Replicas: 2, ScaledFromZero: true}, wantUpdates: 1},
		{name: "cache at 0, target scaled up since: conflict, read, no write", cached: 0, actual: 3, stale: true, want: ScaleResult{Replicas: 3}, wantGets: 1},
		{name: "cache at 0, target changed but still at 0: conflict, read, write", cached: 0, actual: 0, stale: true, want: ScaleResult{Replicas: 2, ScaledFromZero: true}, wantGets: 1, wantUpdates: 1},
		{name: "cache above 0 (not yet showing a scale to zero): read, write", cached: 1, actual: 0, want: ScaleResult{Replicas: 2, ScaledFromZero: true}, wantGets: 1, wantUpdates: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc := newMemScales()
			h, c := newHandler(t, sc, deploy(tt.cached))
			d := &appsv1.Deployment{}
			require.NoError(t, c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "orders"}, d))
			rv, err := strconv.Atoi(d.ResourceVersion)
			require.NoError(t, err)
			if tt.stale {
				rv++
			}
			sc.replicas[deployKey], sc.rv[deployKey] = tt.actual, rv
			got, err := h.ScaleUp(context.Background(), testES(2, ""))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantGets, sc.gets, "reads of /scale")
			assert.Equal(t, tt.wantUpdates, sc.updates, "writes of /scale")
			assert.Equal(t, tt.want.Replicas, sc.replicas[deployKey])
		})
	}
}
