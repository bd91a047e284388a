//go:build integration

package auth_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/operator/internal/auth/authtest"
	"github.com/elasti-dev/elasti/operator/internal/trust"
	"github.com/elasti-dev/elasti/pkg/names"
)

// countingReviewer counts the TokenReviews that reach the API server.
type countingReviewer struct {
	auth.TokenReviewer
	calls atomic.Int32
}

func (c *countingReviewer) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.calls.Add(1)
	return c.TokenReviewer.Create(ctx, obj, opts...)
}

func TestIntegrationAuthenticator(t *testing.T) {
	e := testenv.Start(t, nil)
	ctx := context.Background()
	ns := authtest.OptedInNamespace("edge-")
	require.NoError(t, e.Client.Create(ctx, ns))
	plainNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plain-"}}
	require.NoError(t, e.Client.Create(ctx, plainNS))
	policy, err := trust.NewPolicy(authtest.Image, "")
	require.NoError(t, err)
	checker := &trust.Checker{Policy: policy, Namespaces: e.Client}
	a := auth.New(auth.Options{Reviewer: e.Client, Pods: e.Client, Trust: checker})

	forged, err := authtest.CreateSidecar(ctx, e.Client, authtest.SidecarPod(plainNS.Name, "forged", "gateway"))
	require.NoError(t, err)
	sidecar, err := authtest.CreateSidecar(ctx, e.Client, authtest.SidecarPod(ns.Name, "gw-1", "gateway"))
	require.NoError(t, err)
	plain := authtest.SidecarPod(ns.Name, "plain", "gateway")
	plain.Labels = nil
	plain, err = authtest.CreateSidecar(ctx, e.Client, plain)
	require.NoError(t, err)

	token := func(pod *corev1.Pod, audience string) string {
		tok, err := authtest.Token(ctx, e.Config, pod, audience)
		require.NoError(t, err)
		return tok
	}

	t.Run("bound sidecar token", func(t *testing.T) {
		got, err := a.AuthenticateToken(ctx, token(sidecar, names.DefaultAudience))
		require.NoError(t, err)
		assert.Equal(t, auth.Caller{Namespace: ns.Name, PodName: "gw-1", PodUID: string(sidecar.UID), ServiceAccount: "gateway"}, got)
	})
	t.Run("another audience", func(t *testing.T) {
		_, err := a.AuthenticateToken(ctx, token(sidecar, "https://kubernetes.default.svc"))
		require.ErrorIs(t, err, auth.ErrUnauthenticated)
		t.Log(err)
	})
	t.Run("custom audience flag", func(t *testing.T) {
		custom := auth.New(auth.Options{Reviewer: e.Client, Pods: e.Client, Trust: checker, Audience: "elasti.example.com"})
		_, err := custom.AuthenticateToken(ctx, token(sidecar, "elasti.example.com"))
		require.NoError(t, err)
		_, err = custom.AuthenticateToken(ctx, token(sidecar, names.DefaultAudience))
		require.ErrorIs(t, err, auth.ErrUnauthenticated)
	})
	t.Run("pod without the resolver label", func(t *testing.T) {
		_, err := a.AuthenticateToken(ctx, token(plain, names.DefaultAudience))
		require.ErrorIs(t, err, auth.ErrUnauthenticated)
		assert.Contains(t, err.Error(), "label elasti.dev/resolver=true missing")
	})
	t.Run("forged sidecar in a namespace that did not opt in", func(t *testing.T) {
		// Label, container and a bound token with Elasti's audience: everything a pod author can
		// set. The namespace's opt-in is what they cannot.
		_, err := a.AuthenticateToken(ctx, token(forged, names.DefaultAudience))
		require.ErrorIs(t, err, auth.ErrUnauthenticated)
		assert.Contains(t, err.Error(), "has not opted in")
	})
	t.Run("1,000 garbage tokens cost no TokenReview", func(t *testing.T) {
		counting := &countingReviewer{TokenReviewer: e.Client}
		flooded := auth.New(auth.Options{Reviewer: counting, Pods: e.Client, Trust: checker})
		other := token(sidecar, "https://kubernetes.default.svc") // a real token, another audience
		for i := range 1000 {
			var g string
			switch i % 4 {
			case 0:
				g = fmt.Sprintf("garbage-%d", i)
			case 1:
				g = fmt.Sprintf("%d.%d.%d", i, i, i)
			case 2:
				g = other
			case 3:
				g = other[:len(other)/2] + fmt.Sprint(i) // truncated
			}
			_, err := flooded.AuthenticateToken(ctx, g)
			require.ErrorIs(t, err, auth.ErrUnauthenticated)
		}
		assert.Zero(t, counting.calls.Load(), "TokenReviews sent to the API server")
		_, err := flooded.AuthenticateToken(ctx, token(sidecar, names.DefaultAudience))
		require.NoError(t, err)
		assert.Equal(t, int32(1), counting.calls.Load(), "a real sidecar token still costs one")
	})
	t.Run("garbage token", func(t *testing.T) {
		_, err := a.AuthenticateToken(ctx, "not-a-jwt")
		require.ErrorIs(t, err, auth.ErrUnauthenticated)
	})
	t.Run("token of a deleted pod", func(t *testing.T) {
		gone, err := authtest.CreateSidecar(ctx, e.Client, authtest.SidecarPod(ns.Name, "gw-gone", "gateway"))
		require.NoError(t, err)
		tok := token(gone, names.DefaultAudience)
		fresh := auth.New(auth.Options{Reviewer: e.Client, Pods: e.Client, Trust: checker})
		_, err = fresh.AuthenticateToken(ctx, tok)
		require.NoError(t, err)
		require.NoError(t, e.Client.Delete(ctx, gone, client.GracePeriodSeconds(0)))
		// The cached review is still valid, but the pod check runs every time.
		_, err = fresh.AuthenticateToken(ctx, tok)
		require.ErrorIs(t, err, auth.ErrUnauthenticated)
		assert.Contains(t, err.Error(), "does not exist")
	})
}
