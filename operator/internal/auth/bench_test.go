package auth

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/pkg/names"
)

// BenchmarkAuthenticateCached is the per-request cost once a token's review is cached: hash,
// cache lookup, pod read from the (here: fake) cache and checks.
func BenchmarkAuthenticateCached(b *testing.B) {
	token := jwt(time.Now().Add(time.Hour))
	rev := &fakeReviewer{statuses: map[string]authenticationv1.TokenReviewStatus{token: bound("edge", "gw", "gw-native", "u1")}}
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	edge := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(sidecarPod("gw-native", "u1", true, true), edge).Build()
	a := New(Options{Reviewer: rev, Pods: c, Trust: testTrust(b, c)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.AuthenticateToken(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
	if rev.calls != 1 {
		b.Fatalf("%d TokenReviews, want 1", rev.calls)
	}
}
