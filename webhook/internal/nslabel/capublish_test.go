package nslabel

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/elasti-dev/elasti/pkg/names"
)

const (
	oldBundle = "-----OLD CA-----"
	newBundle = "-----NEW CA-----"
)

var optedIn = map[string]string{names.AnnotationInject: names.InjectEnabled}

func caConfigMap(ns, bundle string, ours bool) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: names.OperatorCAConfigMap, Namespace: ns},
		Data:       map[string]string{names.OperatorCAKey: bundle},
	}
	if ours {
		cm.Labels = publisherLabels()
	}
	return cm
}

// reconcileCA runs one Reconcile of namespace ns and returns the ConfigMap afterwards (nil when
// there is none) and the Events recorded.
func reconcileCA(t *testing.T, p *CAPublisher, c client.Client, rec *events.FakeRecorder, ns string) (*corev1.ConfigMap, ctrl.Result, []string) {
	t.Helper()
	res, err := p.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: ns}})
	require.NoError(t, err)
	cm := &corev1.ConfigMap{}
	err = c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: names.OperatorCAConfigMap}, cm)
	if apierrors.IsNotFound(err) {
		cm = nil
	} else {
		require.NoError(t, err)
	}
	var got []string
	for {
		select {
		case e := <-rec.Events:
			got = append(got, e)
		default:
			return cm, res, got
		}
	}
}

func TestCAPublisher(t *testing.T) {
	tests := []struct {
		name       string
		ns         *corev1.Namespace
		existing   *corev1.ConfigMap
		bundle     string
		wantBundle string // "" means no ConfigMap afterwards
		wantOurs   bool
		wantEvent  bool
	}{
		{"opted in: published", namespace("edge", optedIn, nil), nil, newBundle, newBundle, true, false},
		{"opted in: a changed bundle is published again", namespace("edge", optedIn, nil), caConfigMap("edge", oldBundle, true), newBundle, newBundle, true, false},
		{"opted in: the same bundle is left alone", namespace("edge", optedIn, nil), caConfigMap("edge", newBundle, true), newBundle, newBundle, true, false},
		{"opted in, no bundle yet: nothing published", namespace("edge", optedIn, nil), nil, "", "", false, false},
		{"opted in, no bundle yet: stale beats none", namespace("edge", optedIn, nil), caConfigMap("edge", oldBundle, true), "", oldBundle, true, false},
		{"opted out: ours removed", namespace("plain", nil, nil), caConfigMap("plain", oldBundle, true), newBundle, "", false, false},
		{"opted out: nothing published", namespace("plain", nil, nil), nil, newBundle, "", false, false},
		{"disabled annotation: not published", namespace("edge", map[string]string{names.AnnotationInject: names.InjectDisabled}, nil), nil, newBundle, "", false, false},
		{"system namespace: never published", namespace(names.SystemNamespace, optedIn, nil), nil, newBundle, "", false, false},
		{"kube-system: never published", namespace("kube-system", optedIn, nil), nil, newBundle, "", false, false},
		{"opted in: a foreign ConfigMap is left alone and reported", namespace("edge", optedIn, nil), caConfigMap("edge", "theirs", false), newBundle, "theirs", false, true},
		{"opted out: a foreign ConfigMap is left alone quietly", namespace("plain", nil, nil), caConfigMap("plain", "theirs", false), newBundle, "theirs", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []client.Object{tt.ns}
			if tt.existing != nil {
				objs = append(objs, tt.existing)
			}
			c := fake.NewClientBuilder().WithObjects(objs...).Build()
			rec := events.NewFakeRecorder(10)
			p := &CAPublisher{Client: c, APIReader: c, SystemNamespace: names.SystemNamespace, Events: rec, Bundle: func() string { return tt.bundle }}
			cm, res, evs := reconcileCA(t, p, c, rec, tt.ns.Name)
			assert.Zero(t, res)
			if tt.wantBundle == "" {
				assert.Nil(t, cm)
			} else {
				require.NotNil(t, cm)
				assert.Equal(t, tt.wantBundle, cm.Data[names.OperatorCAKey])
				assert.Equal(t, tt.wantOurs, cm.Labels[names.LabelCAPublisher] == "true")
			}
			if tt.wantEvent {
				require.Len(t, evs, 1)
				assert.True(t, strings.HasPrefix(evs[0], "Warning "+ReasonCABundleNotPublished), evs[0])
			} else {
				assert.Empty(t, evs)
			}
		})
	}
}

// TestCAPublisherCreateRace: the cache holds only the publisher's own ConfigMaps, so a Create can
// meet one the cache did not show. The API server's copy decides: someone else's is reported and
// left alone; ours (created a moment ago) is compared again once the cache has it.
func TestCAPublisherCreateRace(t *testing.T) {
	for _, ours := range []bool{false, true} {
		t.Run(map[bool]string{false: "foreign", true: "ours"}[ours], func(t *testing.T) {
			live := caConfigMap("edge", "theirs", ours)
			apiServer := fake.NewClientBuilder().WithObjects(live).Build()
			// The cache: the namespace, no ConfigMap, and a Create the API server refuses.
			cache := fake.NewClientBuilder().WithObjects(namespace("edge", optedIn, nil)).WithInterceptorFuncs(interceptor.Funcs{
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					return apierrors.NewAlreadyExists(corev1.Resource("configmaps"), obj.GetName())
				},
			}).Build()
			rec := events.NewFakeRecorder(10)
			p := &CAPublisher{Client: cache, APIReader: apiServer, SystemNamespace: names.SystemNamespace, Events: rec, Bundle: func() string { return newBundle }}
			_, res, evs := reconcileCA(t, p, cache, rec, "edge")
			if ours {
				assert.Equal(t, time.Second, res.RequeueAfter)
				assert.Empty(t, evs)
			} else {
				assert.Zero(t, res)
				require.Len(t, evs, 1)
				assert.Contains(t, evs[0], ReasonCABundleNotPublished)
			}
			got := &corev1.ConfigMap{}
			require.NoError(t, apiServer.Get(context.Background(), client.ObjectKeyFromObject(live), got))
			assert.Equal(t, "theirs", got.Data[names.OperatorCAKey], "the API server's copy is never overwritten here")
		})
	}
}

func TestCAPublisherNamespaceGoneOrDeleting(t *testing.T) {
	deleting := namespace("edge", optedIn, nil)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	deleting.Finalizers = []string{"kubernetes"}
	c := fake.NewClientBuilder().WithObjects(deleting).Build()
	rec := events.NewFakeRecorder(10)
	p := &CAPublisher{Client: c, APIReader: c, SystemNamespace: names.SystemNamespace, Events: rec, Bundle: func() string { return newBundle }}
	for _, ns := range []string{"edge", "gone"} {
		cm, res, evs := reconcileCA(t, p, c, rec, ns)
		assert.Nil(t, cm, ns)
		assert.Zero(t, res, ns)
		assert.Empty(t, evs, ns)
	}
}

// TestCAPublisherBundleChanged: a bundle change asks for every namespace, and never blocks (one
// pending request covers any number of changes).
func TestCAPublisherBundleChanged(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(namespace("edge", optedIn, nil), namespace("plain", nil, nil), namespace("kube-system", nil, nil)).Build()
	p := &CAPublisher{Client: c, changed: make(chan event.GenericEvent, 1)}
	done := make(chan struct{})
	go func() {
		p.BundleChanged()
		p.BundleChanged()
		p.BundleChanged()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("BundleChanged blocked")
	}
	assert.Len(t, p.changed, 1)
	var got []string
	for _, r := range p.allNamespaces(context.Background(), nil) {
		got = append(got, r.Name)
	}
	assert.ElementsMatch(t, []string{"edge", "plain", "kube-system"}, got)
}
