package scaling

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"golang.org/x/sync/singleflight"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// scaleUpTimeout bounds one coalesced scale-up. It is detached from the caller's context so that
// one caller giving up does not fail the others waiting on the same scale-up.
const scaleUpTimeout = 30 * time.Second

// ScaleHandler reads and writes the replica count of scale targets. It is safe for concurrent
// use and holds no per-target state besides the in-flight scale-ups.
type ScaleHandler struct {
	// client reads ScaledObjects and writes ScaledObject annotations and ElastiService status.
	client client.Client
	scales scale.ScalesGetter
	mapper meta.RESTMapper
	// inflight coalesces concurrent ScaleUp calls per target.
	inflight singleflight.Group
	// Now is the clock for lastScaledUpTime (tests replace it).
	Now func() time.Time
}

// ScaleResult is the outcome of a ScaleUp.
type ScaleResult struct {
	// Replicas is the target's spec replicas after the call.
	Replicas int32
	// ScaledFromZero is true when this call (or the coalesced call it joined) raised the spec
	// replicas from 0.
	ScaledFromZero bool
	// Raised is true when a ScaleUpTo with raise raised spec replicas that were above 0 already
	// (a burst still arriving while the target starts).
	Raised bool
}

// NewScaleHandler returns a ScaleHandler. c must be able to write (ElastiService status,
// ScaledObjects); mapper maps a ScaleTargetRef's kind to its resource (mgr.GetRESTMapper() knows
// CRDs installed after start).
func NewScaleHandler(c client.Client, scales scale.ScalesGetter, mapper meta.RESTMapper) *ScaleHandler {
	return &ScaleHandler{client: c, scales: scales, mapper: mapper, Now: time.Now}
}

// GetReplicas reads the target's /scale: spec replicas and status replicas.
func (h *ScaleHandler) GetReplicas(ctx context.Context, namespace string, ref v1alpha1.ScaleTargetRef) (spec, status int32, err error) {
	gr, err := h.resource(ref)
	if err != nil {
		return 0, 0, targetErr(namespace, ref, err)
	}
	s, err := h.scales.Scales(namespace).Get(ctx, gr, ref.Name, metav1.GetOptions{})
	if err != nil {
		return 0, 0, targetErr(namespace, ref, fmt.Errorf("reading /scale: %w", err))
	}
	return s.Spec.Replicas, s.Status.Replicas, nil
}

// ScaleUp scales the target to es.Spec.MinReplicas() if its spec replicas are 0, after unpausing
// a named KEDA ScaledObject. Concurrent calls for one target share one execution. A real scale-up
// records status.lastScaledUpTime. It is idempotent and safe from any operator replica.
func (h *ScaleHandler) ScaleUp(ctx context.Context, es *v1alpha1.ElastiService) (ScaleResult, error) {
	return h.ScaleUpTo(ctx, es, es.Spec.MinReplicas(), false)
}

// ScaleUpTo is ScaleUp to want replicas (at least es.Spec.MinReplicas()). With raise, spec
// replicas already above 0 but below want are raised to want too (ScaleResult.Raised); without,
// a target that is up is left alone. It never lowers the replicas. Concurrent calls for one
// target with the same want and raise share one execution.
func (h *ScaleHandler) ScaleUpTo(ctx context.Context, es *v1alpha1.ElastiService, want int32, raise bool) (ScaleResult, error) {
	want = max(want, es.Spec.MinReplicas())
	key := fmt.Sprintf("%s/%s/%s/%s/%d/%t", es.Namespace, es.Spec.ScaleTargetRef.APIVersion, es.Spec.ScaleTargetRef.Kind, es.Spec.ScaleTargetRef.Name, want, raise)
	es = es.DeepCopy()
	ch := h.inflight.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scaleUpTimeout)
		defer cancel()
		return h.scaleUp(fctx, es, want, raise)
	})
	select {
	case <-ctx.Done():
		return ScaleResult{}, fmt.Errorf("waiting for scale-up of %s/%s: %w", es.Namespace, es.Spec.ScaleTargetRef.Name, ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return ScaleResult{}, res.Err
		}
		return res.Val.(ScaleResult), nil
	}
}

func (h *ScaleHandler) scaleUp(ctx context.Context, es *v1alpha1.ElastiService, want int32, raise bool) (ScaleResult, error) {
	ref := es.Spec.ScaleTargetRef
	if so := kedaName(es); so != "" {
		if err := h.unpauseKEDA(ctx, es.Namespace, so); err != nil {
			return ScaleResult{}, targetErr(es.Namespace, ref, err)
		}
	}
	var result ScaleResult
	woke, err := h.fromZeroCached(ctx, es.Namespace, ref, want)
	if err != nil {
		return ScaleResult{}, targetErr(es.Namespace, ref, err)
	}
	if woke {
		result = ScaleResult{Replicas: want, ScaledFromZero: true}
	} else {
		err = h.setReplicas(ctx, es.Namespace, ref, func(current int32) (int32, bool) {
			switch {
			case current == 0:
				result = ScaleResult{Replicas: want, ScaledFromZero: true}
			case raise && current < want:
				result = ScaleResult{Replicas: want, Raised: true}
			default:
				result = ScaleResult{Replicas: current}
				return current, false
			}
			return result.Replicas, true
		})
	}
	if err != nil {
		return ScaleResult{}, err
	}
	if result.Raised {
		log.FromContext(ctx).Info("raised target for the requests still held", "elastiservice", client.ObjectKeyFromObject(es),
			"kind", ref.Kind, "target", ref.Name, "replicas", result.Replicas)
	}
	if result.ScaledFromZero {
		log.FromContext(ctx).Info("scaled target from zero", "elastiservice", client.ObjectKeyFromObject(es),
			"kind", ref.Kind, "target", ref.Name, "replicas", result.Replicas)
		if err := h.recordScaledUp(ctx, es); err != nil {
			// The scale-up happened; the timestamp is informational.
			log.FromContext(ctx).Error(err, "recording lastScaledUpTime", "elastiservice", client.ObjectKeyFromObject(es))
		}
	}
	return result, nil
}

// ScaleToZero pauses a named KEDA ScaledObject (paused-replicas "0", paused "true"), then sets
// the target's spec replicas to 0.
func (h *ScaleHandler) ScaleToZero(ctx context.Context, es *v1alpha1.ElastiService) error {
	ref := es.Spec.ScaleTargetRef
	if so := kedaName(es); so != "" {
		if err := h.pauseKEDA(ctx, es.Namespace, so); err != nil && !apierrors.IsNotFound(err) {
			return targetErr(es.Namespace, ref, err)
		}
	}
	return h.setReplicas(ctx, es.Namespace, ref, func(current int32) (int32, bool) {
		return 0, current != 0
	})
}

type beforeWriteKey struct{}

// WithBeforeWrite returns a context under which a scale of this package calls f right before it
// sends each /scale write (not when the replicas need no change): the moment a wake-up's decision
// is taken and sent, which the elastiserver measures. Concurrent calls sharing one execution
// (ScaleUpTo) run the hook of the call that started it.
func WithBeforeWrite(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, beforeWriteKey{}, f)
}

// fromZeroCached is the fast path of a wake-up for the kinds the operator watches (apps
// Deployment and StatefulSet): when the client (the manager's cache, in the operator) shows the
// target at 0 spec replicas, it writes want to /scale at once with the resourceVersion it read
// there, with no read of /scale first. The write is a compare-and-set as on the slow path: if the
// target changed since the cached version (a stale cache, a concurrent scale), the API server
// answers Conflict and the slow path (read /scale, decide, write) runs instead, as it does when
// the cache shows replicas above 0 or no such object. true: this call scaled the target from 0.
func (h *ScaleHandler) fromZeroCached(ctx context.Context, namespace string, ref v1alpha1.ScaleTargetRef, want int32) (bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	kind := ref.CanonicalKind()
	if err != nil || gv.Group != "apps" || (kind != "Deployment" && kind != "StatefulSet") {
		return false, nil
	}
	var (
		obj      client.Object
		replicas *int32
	)
	key := client.ObjectKey{Namespace: namespace, Name: ref.Name}
	if kind == "Deployment" {
		d := &appsv1.Deployment{}
		if err := h.client.Get(ctx, key, d); err != nil {
			return false, nil // the slow path says what is wrong
		}
		obj, replicas = d, d.Spec.Replicas
	} else {
		sts := &appsv1.StatefulSet{}
		if err := h.client.Get(ctx, key, sts); err != nil {
			return false, nil
		}
		obj, replicas = sts, sts.Spec.Replicas
	}
	if replicas == nil || *replicas != 0 || obj.GetResourceVersion() == "" {
		return false, nil
	}
	gr, err := h.resource(ref)
	if err != nil {
		return false, nil
	}
	s := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: ref.Name, ResourceVersion: obj.GetResourceVersion()},
		Spec:       autoscalingv1.ScaleSpec{Replicas: want},
	}
	BeforeWrite(ctx)
	if _, err := h.scales.Scales(namespace).Update(ctx, gr, s, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return false, nil // changed since the cached version: decide on /scale
		}
		return false, fmt.Errorf("writing /scale: %w", err)
	}
	return true, nil
}

// BeforeWrite runs the hook of WithBeforeWrite in ctx, if any: the scale handler calls it right
// before each /scale write, and so must a stand-in for it in tests.
func BeforeWrite(ctx context.Context) {
	if hook, ok := ctx.Value(beforeWriteKey{}).(func()); ok {
		hook()
	}
}

// setReplicas reads the target's /scale, asks decide for the wanted replicas, and writes them
// with the resourceVersion just read, retrying on conflict (a concurrent writer changed it).
func (h *ScaleHandler) setReplicas(ctx context.Context, namespace string, ref v1alpha1.ScaleTargetRef, decide func(current int32) (int32, bool)) error {
	gr, err := h.resource(ref)
	if err != nil {
		return targetErr(namespace, ref, err)
	}
	scales := h.scales.Scales(namespace)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := scales.Get(ctx, gr, ref.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading /scale: %w", err)
		}
		want, write := decide(s.Spec.Replicas)
		if !write {
			return nil
		}
		s.Spec.Replicas = want
		BeforeWrite(ctx)
		if _, err := scales.Update(ctx, gr, s, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("writing /scale: %w", err)
		}
		return nil
	})
	if err != nil {
		return targetErr(namespace, ref, err)
	}
	return nil
}

// resource maps the target's apiVersion and kind to its resource. A kind the mapper does not
// know yet (a CRD installed after the mapper cached discovery) gets one retry after a reset.
func (h *ScaleHandler) resource(ref v1alpha1.ScaleTargetRef) (schema.GroupResource, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return schema.GroupResource{}, fmt.Errorf("parsing apiVersion %q: %w", ref.APIVersion, err)
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.CanonicalKind()}
	m, err := h.mapper.RESTMapping(gk, gv.Version)
	if meta.IsNoMatchError(err) {
		if r, ok := h.mapper.(meta.ResettableRESTMapper); ok {
			r.Reset()
			m, err = h.mapper.RESTMapping(gk, gv.Version)
		}
	}
	if err != nil {
		return schema.GroupResource{}, fmt.Errorf("finding the resource of %s: %w", gv.WithKind(gk.Kind), err)
	}
	return m.Resource.GroupResource(), nil
}

// recordScaledUp merge-patches status.lastScaledUpTime.
func (h *ScaleHandler) recordScaledUp(ctx context.Context, es *v1alpha1.ElastiService) error {
	now := metav1.NewTime(h.Now().UTC().Truncate(time.Second))
	body, err := json.Marshal(map[string]any{"status": map[string]any{"lastScaledUpTime": now}})
	if err != nil {
		return fmt.Errorf("encoding status patch: %w", err)
	}
	// A merge patch without a resourceVersion cannot conflict: no retry needed.
	obj := &v1alpha1.ElastiService{}
	obj.Namespace, obj.Name = es.Namespace, es.Name
	if err := h.client.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("patching status of ElastiService %s/%s: %w", es.Namespace, es.Name, err)
	}
	return nil
}

func targetErr(namespace string, ref v1alpha1.ScaleTargetRef, err error) error {
	return fmt.Errorf("scaling %s/%s %s: %w", namespace, ref.Name, ref.Kind, err)
}
