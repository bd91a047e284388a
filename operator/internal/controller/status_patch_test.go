package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// TestPatchStatusFromAStaleCache: the cached copy says proxy while the server holds serve (the
// cache missed an update). The reconcile decides proxy; the write must still set proxy on the
// server, although the stale base already says so.
func TestPatchStatusFromAStaleCache(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, v1alpha1.AddToScheme(scheme))
	onServer := &v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop"},
		Status: v1alpha1.ElastiServiceStatus{Mode: v1alpha1.ModeServe}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(onServer).WithStatusSubresource(onServer).Build()
	r := &Reconciler{Client: c, Now: func() time.Time { return time.Unix(1000, 0) }}

	stale := onServer.DeepCopy()
	stale.Status.Mode = v1alpha1.ModeProxy // what the cache believed
	es := stale.DeepCopy()
	meta.SetStatusCondition(&es.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonTargetAtZero})
	require.NoError(t, r.patchStatus(context.Background(), stale, es))

	got := &v1alpha1.ElastiService{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(onServer), got))
	assert.Equal(t, v1alpha1.ModeProxy, got.Status.Mode)
	assert.True(t, meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionReady))
}
