package admission

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestCachedNamespacesFallsBackToLiveRead(t *testing.T) {
	cache := fake.NewClientBuilder().WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cached"}}).Build()
	live := fake.NewClientBuilder().WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "new", Annotations: map[string]string{"a": "b"}}}).Build()
	c := &CachedNamespaces{Cache: cache, Live: live}

	ns, err := c.Get(context.Background(), "cached")
	require.NoError(t, err)
	assert.Equal(t, "cached", ns.Name)
	ns, err = c.Get(context.Background(), "new")
	require.NoError(t, err, "not in the cache yet: read live")
	assert.Equal(t, "b", ns.Annotations["a"])
	_, err = c.Get(context.Background(), "gone")
	assert.True(t, apierrors.IsNotFound(err), "NotFound survives wrapping: %v", err)

	_, err = (&CachedNamespaces{Cache: cache}).Get(context.Background(), "new")
	assert.True(t, apierrors.IsNotFound(err), "no fallback without Live")
}
