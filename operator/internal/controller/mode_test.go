package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

func TestDecideMode(t *testing.T) {
	up := observation{ServiceFound: true, TargetFound: true, TargetSpecReplicas: 2}
	with := func(f func(*observation)) observation { o := up; f(&o); return o }
	tests := []struct {
		name string
		in   observation
		want decision
	}{
		{"service missing", with(func(o *observation) { o.ServiceFound = false; o.TargetSpecReplicas = 0 }),
			decision{v1alpha1.ModeServe, ReasonServiceNotFound}},
		{"target missing", with(func(o *observation) { o.TargetFound = false; o.CurrentMode = v1alpha1.ModeProxy }),
			decision{v1alpha1.ModeServe, ReasonTargetNotFound}},
		{"draining with ready pods", with(func(o *observation) { o.Draining = true; o.TargetReadyEndpoints = 3 }),
			decision{v1alpha1.ModeProxy, ReasonScalingDown}},
		{"at zero", with(func(o *observation) { o.TargetSpecReplicas = 0 }),
			decision{v1alpha1.ModeProxy, ReasonTargetAtZero}},
		{"at zero with terminating ready pods", with(func(o *observation) { o.TargetSpecReplicas = 0; o.TargetReadyEndpoints = 1 }),
			decision{v1alpha1.ModeProxy, ReasonTargetAtZero}},
		{"ready", with(func(o *observation) { o.TargetReadyEndpoints = 1; o.CurrentMode = v1alpha1.ModeProxy }),
			decision{v1alpha1.ModeServe, ReasonTargetReady}},
		{"observing with ready pods", with(func(o *observation) { o.Observing = true; o.TargetReadyEndpoints = 1 }),
			decision{v1alpha1.ModeProxy, ReasonObserving}},
		{"observing, pods gone from serve: not fronted", with(func(o *observation) { o.Observing = true; o.CurrentMode = v1alpha1.ModeServe }),
			decision{v1alpha1.ModeServe, ReasonTargetNotReady}},
		{"observing at zero: the target is at zero", with(func(o *observation) { o.Observing = true; o.TargetSpecReplicas = 0; o.TargetReadyEndpoints = 1 }),
			decision{v1alpha1.ModeProxy, ReasonTargetAtZero}},
		{"draining wins over observing", with(func(o *observation) { o.Observing = true; o.Draining = true; o.TargetReadyEndpoints = 1 }),
			decision{v1alpha1.ModeProxy, ReasonScalingDown}},
		{"waking from proxy", with(func(o *observation) { o.CurrentMode = v1alpha1.ModeProxy }),
			decision{v1alpha1.ModeProxy, ReasonWaking}},
		{"not ready while serving", with(func(o *observation) { o.CurrentMode = v1alpha1.ModeServe }),
			decision{v1alpha1.ModeServe, ReasonTargetNotReady}},
		{"new elastiservice, pods starting", up,
			decision{v1alpha1.ModeServe, ReasonTargetNotReady}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, decideMode(tt.in))
		})
	}
}

func TestReadyCondition(t *testing.T) {
	es := &v1alpha1.ElastiService{Spec: v1alpha1.ElastiServiceSpec{Service: "orders",
		ScaleTargetRef: v1alpha1.ScaleTargetRef{Kind: "Deployment", Name: "orders"}}}
	tests := []struct {
		name    string
		d       decision
		sidecar int
		status  metav1.ConditionStatus
		reason  string
	}{
		{"serving ready pods", decision{v1alpha1.ModeServe, ReasonTargetReady}, 0, metav1.ConditionTrue, ReasonTargetReady},
		{"serving, nothing ready", decision{v1alpha1.ModeServe, ReasonTargetNotReady}, 3, metav1.ConditionFalse, ReasonTargetNotReady},
		{"service missing", decision{v1alpha1.ModeServe, ReasonServiceNotFound}, 3, metav1.ConditionFalse, ReasonServiceNotFound},
		{"target missing", decision{v1alpha1.ModeServe, ReasonTargetNotFound}, 3, metav1.ConditionFalse, ReasonTargetNotFound},
		{"proxy with sidecars", decision{v1alpha1.ModeProxy, ReasonTargetAtZero}, 2, metav1.ConditionTrue, ReasonTargetAtZero},
		{"waking with sidecars", decision{v1alpha1.ModeProxy, ReasonWaking}, 1, metav1.ConditionTrue, ReasonWaking},
		{"proxy without sidecars", decision{v1alpha1.ModeProxy, ReasonTargetAtZero}, 0, metav1.ConditionFalse, ReasonNoReadySidecars},
		{"observing with sidecars", decision{v1alpha1.ModeProxy, ReasonObserving}, 2, metav1.ConditionTrue, ReasonObserving},
		{"observing without sidecars", decision{v1alpha1.ModeProxy, ReasonObserving}, 0, metav1.ConditionFalse, ReasonNoReadySidecars},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reason, msg := readyCondition(es, tt.d, tt.sidecar)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.reason, reason)
			assert.NotEmpty(t, msg)
		})
	}
}
