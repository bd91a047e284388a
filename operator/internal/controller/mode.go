package controller

import (
	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// Reasons a mode was chosen; they become the reason of the Ready condition and appear in Events.
const (
	ReasonScalingDown     = "ScalingDown"
	ReasonTargetAtZero    = "TargetAtZero"
	ReasonTargetReady     = "TargetReady"
	ReasonWaking          = "Waking"
	ReasonTargetNotReady  = "TargetNotReady"
	ReasonTargetNotFound  = "TargetNotFound"
	ReasonServiceNotFound = "ServiceNotFound"
	ReasonObserving       = "Observing"
)

// observation is what the reconciler saw, reduced to what the mode depends on.
type observation struct {
	// ServiceFound and TargetFound: the Service and the scale target exist.
	ServiceFound bool
	TargetFound  bool
	// TargetSpecReplicas is the target's /scale spec.replicas (spec, not status: a target that was
	// just told to scale to 0 is treated as at zero even while its pods terminate).
	TargetSpecReplicas int32
	// ReplicasCached: TargetFound and TargetSpecReplicas come from the manager's cache, not the
	// target's /scale (Reconciler.decide confirms a mode change on /scale).
	ReplicasCached bool
	// TargetReadyEndpoints counts ready endpoints in the Service's own EndpointSlices (not Elasti's).
	TargetReadyEndpoints int
	// Draining: the scale-down loop has switched the Service to proxy mode and is about to scale
	// the target to zero.
	Draining bool
	// Observing: the traffic trigger counts the Service's requests in proxy mode (the sidecars
	// forward them to the pods at once).
	Observing bool
	// CurrentMode is status.mode ("" for a new ElastiService).
	CurrentMode v1alpha1.Mode
}

// decision is the mode the Service must be in, and why.
type decision struct {
	Mode   v1alpha1.Mode
	Reason string
}

// decideMode is the whole mode policy. It depends only on what was observed, so running it twice
// gives the same answer (level-based). Truth table, first matching row wins:
//
//	Service or target missing                 → serve  (nothing to wake; never leave a slice behind)
//	scale-down in progress (Draining)         → proxy  (sidecars take traffic before the pods go)
//	target spec.replicas == 0                 → proxy  (sidecars hold requests and wake the target)
//	observing, target has ready endpoints     → proxy  (sidecars count requests and forward them
//	                                                   at once: the traffic trigger's observation)
//	target has ready endpoints                → serve  (Elasti leaves the path)
//	scaled up, nothing ready, currently proxy → proxy  (waking: keep holding until a pod is ready;
//	                                                   an endpoint whose pod is being deleted is not ready)
//	scaled up, nothing ready, otherwise       → serve  (a starting or broken workload is not ours
//	                                                   to front; Elasti only fronts what it woke)
func decideMode(o observation) decision {
	switch {
	case !o.ServiceFound:
		return decision{Mode: v1alpha1.ModeServe, Reason: ReasonServiceNotFound}
	case !o.TargetFound:
		return decision{Mode: v1alpha1.ModeServe, Reason: ReasonTargetNotFound}
	case o.Draining:
		return decision{Mode: v1alpha1.ModeProxy, Reason: ReasonScalingDown}
	case o.TargetSpecReplicas == 0:
		return decision{Mode: v1alpha1.ModeProxy, Reason: ReasonTargetAtZero}
	case o.Observing && o.TargetReadyEndpoints > 0:
		return decision{Mode: v1alpha1.ModeProxy, Reason: ReasonObserving}
	case o.TargetReadyEndpoints > 0:
		return decision{Mode: v1alpha1.ModeServe, Reason: ReasonTargetReady}
	case o.CurrentMode == v1alpha1.ModeProxy:
		return decision{Mode: v1alpha1.ModeProxy, Reason: ReasonWaking}
	default:
		return decision{Mode: v1alpha1.ModeServe, Reason: ReasonTargetNotReady}
	}
}
