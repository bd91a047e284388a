// Package kubetest holds what tests against a real API server share: the integration tests
// (envtest) and the end-to-end suite.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CreateAll creates the objects of n members, objects(i) for i from 0 to n-1, from workers
// goroutines (as `kubectl apply` of a large manifest would), and returns every error, joined.
func CreateAll(ctx context.Context, c client.Client, n, workers int, objects func(i int) []client.Object) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	next := make(chan int)
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				for _, o := range objects(i) {
					if err := c.Create(ctx, o); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err))
						mu.Unlock()
					}
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}
