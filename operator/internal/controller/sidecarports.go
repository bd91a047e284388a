package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/ports"
)

// ReasonSidecarPortsExhausted: the sidecar port range has no free port for some Service port.
const ReasonSidecarPortsExhausted = "SidecarPortsExhausted"

// allocatePorts gives every TCP port of the Service its own sidecar port and persists the result
// in status.sidecarPorts before anything uses it: the stream tells sidecars to listen on what the
// status says, and proxy slices map to it. It returns the allocator's refusal (ports.ErrExhausted)
// separately from errors that must fail the reconcile.
func (r *Reconciler) allocatePorts(ctx context.Context, es *v1alpha1.ElastiService, svc *corev1.Service) (exhausted, err error) {
	if r.Ports == nil {
		return nil, nil
	}
	if err := r.loadPorts(ctx); err != nil {
		return nil, err
	}
	want := wantedPorts(svc, es.Status)
	inUse := r.Ports.InUse()
	got, allocErr := r.Ports.Assign(client.ObjectKeyFromObject(es).String(), want)
	sidecarPortsInUse.Set(float64(r.Ports.InUse()))
	if r.Ports.InUse() < inUse {
		r.enqueueShort(ctx) // a Service lost a port: its sidecar port is free for another
	}
	next := sidecarPortsStatus(svc, got)
	if !equality.Semantic.DeepEqual(es.Status.SidecarPorts, next) {
		before := es.DeepCopy()
		es.Status.SidecarPorts = next
		if err := r.Status().Patch(ctx, es, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("recording sidecar ports: %w", err)
		}
		log.FromContext(ctx).Info("sidecar ports allocated", "sidecarPorts", describePorts(next))
	}
	if allocErr != nil && !errors.Is(allocErr, ports.ErrExhausted) {
		return nil, allocErr
	}
	return allocErr, nil
}

// portsRetry is how often an ElastiService still short of sidecar ports is reconciled again
// (besides at once when another ElastiService releases ports).
const portsRetry = 30 * time.Second

// releasePorts frees what es holds (deleted, or not the ElastiService that manages its Service)
// and wakes the ElastiServices that were short of ports.
func (r *Reconciler) releasePorts(ctx context.Context, key client.ObjectKey) {
	if r.Ports == nil {
		return
	}
	if r.Ports.Release(key.String()) == 0 {
		return
	}
	sidecarPortsInUse.Set(float64(r.Ports.InUse()))
	r.enqueueShort(ctx)
}

// enqueueShort asks for a reconcile of every ElastiService the allocator could not satisfy.
func (r *Reconciler) enqueueShort(ctx context.Context) {
	for _, k := range r.Ports.Short() {
		ns, name, _ := strings.Cut(k, "/")
		r.Enqueue(ctx, &v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}
}

// loadPorts indexes the allocations every ElastiService's status records, once per leader term,
// from the API server (not the cache: a status the previous leader wrote a moment ago must be
// seen, or its port could be handed out twice). Oldest first, so the older of two ElastiServices
// that record the same port keeps it.
func (r *Reconciler) loadPorts(ctx context.Context) error {
	if r.Ports.Loaded() {
		return nil
	}
	// One worker lists and loads; the others wait for it rather than list every ElastiService too.
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if r.Ports.Loaded() {
		return nil
	}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	list := &v1alpha1.ElastiServiceList{}
	if err := reader.List(ctx, list); err != nil {
		return fmt.Errorf("listing ElastiServices to load sidecar port allocations: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b v1alpha1.ElastiService) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	recorded := make([]ports.Recorded, 0, len(list.Items))
	for i := range list.Items {
		es := &list.Items[i]
		m := map[string]int32{}
		for _, p := range es.Status.SidecarPorts {
			m[p.Name] = p.SidecarPort
		}
		recorded = append(recorded, ports.Recorded{ElastiService: client.ObjectKeyFromObject(es).String(), Ports: m})
	}
	r.Ports.Load(recorded)
	sidecarPortsTotal.Set(float64(r.Ports.Range().Size()))
	sidecarPortsInUse.Set(float64(r.Ports.InUse()))
	log.FromContext(ctx).Info("sidecar port allocations loaded", "range", r.Ports.Range().String(), "inUse", r.Ports.InUse())
	return nil
}

// proxiedPorts are the Service ports a sidecar proxies: TCP only (UDP and SCTP are left out).
func proxiedPorts(svc *corev1.Service) []corev1.ServicePort {
	if svc == nil {
		return nil
	}
	out := make([]corev1.ServicePort, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			out = append(out, p)
		}
	}
	return out
}

// wantedPorts: one per proxied Service port, with what status already records for its name.
func wantedPorts(svc *corev1.Service, st v1alpha1.ElastiServiceStatus) []ports.Want {
	sp := proxiedPorts(svc)
	out := make([]ports.Want, 0, len(sp))
	for _, p := range sp {
		cur, _ := st.SidecarPortFor(p.Name)
		out = append(out, ports.Want{PortName: p.Name, Current: cur})
	}
	return out
}

// sidecarPortsStatus lists the allocated ports in the Service's port order (nil when none).
func sidecarPortsStatus(svc *corev1.Service, got map[string]int32) []v1alpha1.SidecarPort {
	var out []v1alpha1.SidecarPort
	for _, p := range proxiedPorts(svc) {
		if n, ok := got[p.Name]; ok {
			out = append(out, v1alpha1.SidecarPort{Name: p.Name, Port: p.Port, SidecarPort: n})
		}
	}
	return out
}

// portsComplete reports whether every proxied Service port has a sidecar port recorded: only then
// can the Service be switched to the sidecars without leaving a port unreachable.
func portsComplete(es *v1alpha1.ElastiService, svc *corev1.Service) bool {
	for _, p := range proxiedPorts(svc) {
		if _, ok := es.Status.SidecarPortFor(p.Name); !ok {
			return false
		}
	}
	return true
}

func describePorts(ps []v1alpha1.SidecarPort) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s:%d->%d", p.Name, p.Port, p.SidecarPort))
	}
	return strings.Join(parts, ",")
}

// setPortsCondition turns Ready False (SidecarPortsExhausted) while a Service port has no sidecar
// port, with a Warning Event when that starts: the port is unreachable in proxy mode, so the
// scale-down loop leaves the target up until a port is freed.
func (r *Reconciler) setPortsCondition(before, es *v1alpha1.ElastiService, exhausted error) {
	if exhausted == nil {
		return
	}
	msg := exhausted.Error() + "; the target is not scaled to zero until every Service port has one (free ports by deleting ElastiServices or widen --sidecar-port-range)"
	meta.SetStatusCondition(&es.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: ReasonSidecarPortsExhausted, Message: msg, ObservedGeneration: es.Generation})
	if c := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Reason != ReasonSidecarPortsExhausted {
		r.event(es, "Warning", ReasonSidecarPortsExhausted, "AllocatePorts", "%s", msg)
	}
}
