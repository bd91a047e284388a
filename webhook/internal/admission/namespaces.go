package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CachedNamespaces reads namespaces from the informer cache and falls back to a live read when
// the cache has not seen the namespace yet (it was created a moment ago).
type CachedNamespaces struct {
	Cache client.Reader
	// Live is an uncached reader (the manager's APIReader); nil disables the fallback.
	Live client.Reader
}

// Get implements NamespaceGetter.
func (c *CachedNamespaces) Get(ctx context.Context, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	err := c.Cache.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) && c.Live != nil {
		err = c.Live.Get(ctx, client.ObjectKey{Name: name}, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("getting namespace %s: %w", name, err)
	}
	return ns, nil
}
