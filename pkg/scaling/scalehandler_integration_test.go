//go:build integration

package scaling_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/scaling"
)

// crd returns a namespaced CRD with an open schema, with a /scale subresource when scalable.
func crd(group, kind, plural string, scalable bool) *apiextensionsv1.CustomResourceDefinition {
	v := apiextensionsv1.CustomResourceDefinitionVersion{
		Name: "v1alpha1", Served: true, Storage: true,
		Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
			Type: "object", XPreserveUnknownFields: ptr.To(true),
		}},
	}
	if scalable {
		v.Subresources = &apiextensionsv1.CustomResourceSubresources{
			Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
			Scale: &apiextensionsv1.CustomResourceSubresourceScale{
				SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas",
			},
		}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: apiextensionsv1.NamespaceScoped,
			Names:    apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: plural[:len(plural)-1]},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{v},
		},
	}
}

type env struct {
	*testenv.Env
	h      *scaling.ScaleHandler
	mapper meta.RESTMapper
	ns     string
}

func start(t *testing.T) *env {
	t.Helper()
	e := testenv.Start(t, &envtest.Environment{CRDInstallOptions: envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{
		crd("keda.sh", "ScaledObject", "scaledobjects", false),
		crd("example.elasti.dev", "Widget", "widgets", true),
	}}})
	hc, err := rest.HTTPClientFor(e.Config)
	require.NoError(t, err)
	mapper, err := apiutil.NewDynamicRESTMapper(e.Config, hc)
	require.NoError(t, err)
	h, err := scaling.NewForConfig(e.Config, e.Client, mapper)
	require.NoError(t, err)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "scaling-"}}
	require.NoError(t, e.Client.Create(context.Background(), ns))
	return &env{Env: e, h: h, mapper: mapper, ns: ns.Name}
}

func (e *env) deployment(t *testing.T, name string, replicas int32) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
			},
		},
	}
	require.NoError(t, e.Client.Create(context.Background(), d))
	return d
}

func (e *env) elastiService(t *testing.T, name string, ref v1alpha1.ScaleTargetRef, min int32, keda string) *v1alpha1.ElastiService {
	t.Helper()
	es := &v1alpha1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec:       v1alpha1.ElastiServiceSpec{Service: name, ScaleTargetRef: ref, MinTargetReplicas: min},
	}
	if keda != "" {
		es.Spec.Autoscaler = &v1alpha1.AutoscalerSpec{Type: v1alpha1.AutoscalerKEDA, Name: keda}
	}
	require.NoError(t, e.Client.Create(context.Background(), es))
	return es
}

func (e *env) replicas(t *testing.T, name string) int32 {
	t.Helper()
	d := &appsv1.Deployment{}
	require.NoError(t, e.Client.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, d))
	return *d.Spec.Replicas
}

var deploymentRef = func(name string) v1alpha1.ScaleTargetRef {
	return v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name}
}

func TestIntegrationScaleHandler(t *testing.T) {
	e := start(t)
	ctx := context.Background()

	t.Run("deployment from zero to min, concurrent calls coalesced", func(t *testing.T) {
		e.deployment(t, "orders", 0)
		es := e.elastiService(t, "orders", deploymentRef("orders"), 3, "")
		spec, status, err := e.h.GetReplicas(ctx, e.ns, es.Spec.ScaleTargetRef)
		require.NoError(t, err)
		assert.Equal(t, [2]int32{0, 0}, [2]int32{spec, status})

		const callers = 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		fromZero := 0
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := e.h.ScaleUp(ctx, es)
				assert.NoError(t, err)
				assert.Equal(t, int32(3), res.Replicas)
				if res.ScaledFromZero {
					mu.Lock()
					fromZero++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int32(3), e.replicas(t, "orders"))
		// Callers that joined the first flight share its "from zero"; later ones found 3.
		assert.GreaterOrEqual(t, fromZero, 1)
		d := &appsv1.Deployment{}
		require.NoError(t, e.Client.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: "orders"}, d))
		assert.Equal(t, int64(2), d.Generation, "exactly one spec write (generation 1 → 2)")

		got := &v1alpha1.ElastiService{}
		require.NoError(t, e.Client.Get(ctx, client.ObjectKeyFromObject(es), got))
		require.NotNil(t, got.Status.LastScaledUpTime, "lastScaledUpTime recorded")

		res, err := e.h.ScaleUp(ctx, es)
		require.NoError(t, err)
		assert.Equal(t, scaling.ScaleResult{Replicas: 3}, res, "idempotent")
	})

	t.Run("scale to zero compares spec, so a wake-up right after is not lost", func(t *testing.T) {
		e.deployment(t, "cart", 2)
		es := e.elastiService(t, "cart", deploymentRef("cart"), 1, "")
		require.NoError(t, e.h.ScaleToZero(ctx, es))
		assert.Equal(t, int32(0), e.replicas(t, "cart"))
		// No controller runs here, so status still says 2 replicas: only spec counts.
		res, err := e.h.ScaleUp(ctx, es)
		require.NoError(t, err)
		assert.Equal(t, scaling.ScaleResult{Replicas: 1, ScaledFromZero: true}, res)
		assert.Equal(t, int32(1), e.replicas(t, "cart"))
	})

	t.Run("a burst: from zero to its size, then raised while it grows, never lowered", func(t *testing.T) {
		e.deployment(t, "burst", 0)
		es := e.elastiService(t, "burst", deploymentRef("burst"), 1, "")
		res, err := e.h.ScaleUpTo(ctx, es, 4, true)
		require.NoError(t, err)
		assert.Equal(t, scaling.ScaleResult{Replicas: 4, ScaledFromZero: true}, res)
		res, err = e.h.ScaleUpTo(ctx, es, 6, true)
		require.NoError(t, err)
		assert.Equal(t, scaling.ScaleResult{Replicas: 6, Raised: true}, res)
		res, err = e.h.ScaleUpTo(ctx, es, 3, true)
		require.NoError(t, err)
		assert.Equal(t, scaling.ScaleResult{Replicas: 6}, res)
		res, err = e.h.ScaleUpTo(ctx, es, 9, false)
		require.NoError(t, err)
		assert.Equal(t, scaling.ScaleResult{Replicas: 6}, res, "without raise, a target that is up is left alone")
		assert.Equal(t, int32(6), e.replicas(t, "burst"))
	})

	t.Run("custom resource with a /scale subresource", func(t *testing.T) {
		w := &unstructured.Unstructured{}
		w.SetGroupVersionKind(schema.GroupVersionKind{Group: "example.elasti.dev", Version: "v1alpha1", Kind: "Widget"})
		w.SetNamespace(e.ns)
		w.SetName("gizmo")
		require.NoError(t, unstructured.SetNestedField(w.Object, int64(0), "spec", "replicas"))
		require.NoError(t, e.Client.Create(ctx, w))
		es := e.elastiService(t, "gizmo", v1alpha1.ScaleTargetRef{APIVersion: "example.elasti.dev/v1alpha1", Kind: "Widget", Name: "gizmo"}, 2, "")
		res, err := e.h.ScaleUp(ctx, es)
		require.NoError(t, err)
		assert.True(t, res.ScaledFromZero)
		require.NoError(t, e.Client.Get(ctx, client.ObjectKeyFromObject(w), w))
		v, _, _ := unstructured.NestedInt64(w.Object, "spec", "replicas")
		assert.Equal(t, int64(2), v)
	})

	t.Run("KEDA ScaledObject paused before scale to zero, unpaused on scale-up", func(t *testing.T) {
		e.deployment(t, "search", 1)
		so := &unstructured.Unstructured{}
		so.SetGroupVersionKind(scaling.ScaledObjectGVK)
		so.SetNamespace(e.ns)
		so.SetName("search")
		so.SetAnnotations(map[string]string{"team": "search"})
		require.NoError(t, unstructured.SetNestedField(so.Object, "search", "spec", "scaleTargetRef", "name"))
		require.NoError(t, e.Client.Create(ctx, so))
		es := e.elastiService(t, "search", deploymentRef("search"), 1, "search")
		annotations := func() map[string]string {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(scaling.ScaledObjectGVK)
			require.NoError(t, e.Client.Get(ctx, client.ObjectKeyFromObject(so), got))
			return got.GetAnnotations()
		}

		require.NoError(t, e.h.ScaleToZero(ctx, es))
		assert.Equal(t, map[string]string{"team": "search", names.KEDAPausedAnnotation: "true", names.KEDAPausedReplicasAnnotation: "0"}, annotations())
		assert.Equal(t, int32(0), e.replicas(t, "search"))

		res, err := e.h.ScaleUp(ctx, es)
		require.NoError(t, err)
		assert.True(t, res.ScaledFromZero)
		assert.Equal(t, map[string]string{"team": "search"}, annotations())
		assert.Equal(t, int32(1), e.replicas(t, "search"))
	})

	t.Run("missing target names it", func(t *testing.T) {
		es := e.elastiService(t, "ghost", deploymentRef("ghost"), 1, "")
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := e.h.ScaleUp(ctx, es)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "scaling "+e.ns+"/ghost Deployment")
	})
}

// staleReader answers Gets of one Deployment with a copy taken earlier, as a cache that has not
// seen the latest write yet; everything else goes to the API server.
type staleReader struct {
	client.Client
	old *appsv1.Deployment
}

func (s staleReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if d, ok := obj.(*appsv1.Deployment); ok && key.Name == s.old.Name && key.Namespace == s.old.Namespace {
		s.old.DeepCopyInto(d)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// TestIntegrationScaleUpFromACachedZero: the fast path of a wake-up writes /scale with the
// resourceVersion its client read. On a real API server that version is a precondition: a
// Deployment scaled to 3 after the copy the client holds (which says 0) is left at 3, not lowered
// to the wake-up's 1; a current copy scales it from 0 with the one write.
func TestIntegrationScaleUpFromACachedZero(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	d := e.deployment(t, "cached", 0)
	stale := d.DeepCopy() // at 0, with the version the API server gave it on create
	require.NoError(t, e.Client.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "cached"}},
		client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":3}}`))))
	sg, err := scaling.NewScalesGetter(e.Config, e.mapper)
	require.NoError(t, err)
	h := scaling.NewScaleHandler(staleReader{Client: e.Client, old: stale}, sg, e.mapper)
	es := e.elastiService(t, "cached", deploymentRef("cached"), 1, "")
	res, err := h.ScaleUp(ctx, es)
	require.NoError(t, err)
	assert.Equal(t, scaling.ScaleResult{Replicas: 3}, res, "the stale copy's version was refused; /scale said 3")
	assert.Equal(t, int32(3), e.replicas(t, "cached"))

	// A current copy at 0: scaled from 0.
	require.NoError(t, e.Client.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "cached"}},
		client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":0}}`))))
	res, err = e.h.ScaleUp(ctx, es)
	require.NoError(t, err)
	assert.Equal(t, scaling.ScaleResult{Replicas: 1, ScaledFromZero: true}, res)
	assert.Equal(t, int32(1), e.replicas(t, "cached"))
}
