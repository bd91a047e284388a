package elastiserver

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/endpointslice"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// resyncInterval: every key is rebuilt this often, whatever the events said, so that a missed
// or reordered event (a pod cached after the slice naming it) heals on its own.
const resyncInterval = 5 * time.Minute

// namespacePrefix marks a queue item that means "rebuild every service of this namespace".
const namespacePrefix = "namespace:"

// startWatching adds event handlers to the cache's informers, builds the whole state once,
// opens the streams (s.ready) and keeps the state current until ctx ends.
func (s *Server) startWatching(ctx context.Context) error {
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "elastiserver"})
	handlers := []struct {
		obj client.Object
		h   toolscache.ResourceEventHandler
	}{
		{&v1alpha1.ElastiService{}, s.elastiServiceHandler(queue)},
		{&corev1.Service{}, keyHandler(queue, func(o client.Object) string { return serviceKey(o.GetNamespace(), o.GetName()) })},
		{&discoveryv1.EndpointSlice{}, keyHandler(queue, sliceKey)},
		{&corev1.Pod{}, podHandler(queue)},
	}
	for _, h := range handlers {
		inf, err := s.opts.Cache.GetInformer(ctx, h.obj)
		if err != nil {
			return fmt.Errorf("elastiserver: getting informer for %T: %w", h.obj, err)
		}
		if _, err := inf.AddEventHandler(h.h); err != nil {
			return fmt.Errorf("elastiserver: adding event handler for %T: %w", h.obj, err)
		}
	}
	if !s.opts.Cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("elastiserver: cache did not sync")
	}
	b := &builder{c: s.opts.Client, clusterDomain: s.opts.ClusterDomain, serviceIndex: s.opts.ServiceIndex}
	if err := s.rebuildAll(ctx, b, queue); err != nil {
		return err
	}
	close(s.ready)
	go s.work(ctx, b, queue)
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	go s.resync(ctx, queue)
	return nil
}

// rebuildAll builds every ElastiService's service synchronously (before the first stream).
func (s *Server) rebuildAll(ctx context.Context, b *builder, queue workqueue.TypedRateLimitingInterface[string]) error {
	list := &v1alpha1.ElastiServiceList{}
	if err := s.opts.Client.List(ctx, list); err != nil {
		return fmt.Errorf("elastiserver: listing ElastiServices: %w", err)
	}
	done := map[string]bool{}
	for i := range list.Items {
		key := serviceKey(list.Items[i].Namespace, list.Items[i].Spec.Service)
		if done[key] {
			continue // two ElastiServices naming one Service: one stream entry
		}
		done[key] = true
		if err := s.rebuild(ctx, b, key); err != nil {
			s.log.Error(err, "building stream state; will retry", "service", key)
			queue.AddRateLimited(key)
		}
	}
	return nil
}

func (s *Server) work(ctx context.Context, b *builder, queue workqueue.TypedRateLimitingInterface[string]) {
	for {
		key, quit := queue.Get()
		if quit {
			return
		}
		if err := s.process(ctx, b, key, queue); err != nil {
			s.log.Error(err, "building stream state; will retry", "key", key)
			queue.AddRateLimited(key)
		} else {
			queue.Forget(key)
		}
		queue.Done(key)
	}
}

func (s *Server) resync(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string]) {
	t := time.NewTicker(resyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, k := range s.state.keys() {
				queue.Add(k)
			}
			list := &v1alpha1.ElastiServiceList{}
			if err := s.opts.Client.List(ctx, list); err == nil {
				for i := range list.Items {
					queue.Add(serviceKey(list.Items[i].Namespace, list.Items[i].Spec.Service))
				}
			}
		}
	}
}

// process rebuilds one key. A namespace key (a pod came or went there) is fanned out into the
// keys of that namespace's services, each queued once (two ElastiServices may name one Service),
// so that each is rebuilt, retried and rate-limited on its own.
func (s *Server) process(ctx context.Context, b *builder, key string, queue workqueue.TypedRateLimitingInterface[string]) error {
	ns, ok := strings.CutPrefix(key, namespacePrefix)
	if !ok {
		return s.rebuild(ctx, b, key)
	}
	list := &v1alpha1.ElastiServiceList{}
	if err := s.opts.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing ElastiServices in %s: %w", ns, err)
	}
	for i := range list.Items {
		queue.Add(serviceKey(ns, list.Items[i].Spec.Service)) // the queue de-duplicates keys
	}
	return nil
}

func (s *Server) rebuild(ctx context.Context, b *builder, key string) error {
	ns, name, _ := strings.Cut(key, "/")
	var prev *stream.Service
	if p, ok := s.state.get(key); ok {
		prev = &p
	}
	svc, err := b.build(ctx, ns, name, prev)
	if err != nil {
		return err
	}
	s.state.set(key, svc)
	return nil
}

func sliceKey(o client.Object) string {
	if endpointslice.IsElastis(o) {
		return "" // our own proxy-mode slice: not what the streams show
	}
	svc := o.GetLabels()[discoveryv1.LabelServiceName]
	if svc == "" {
		return ""
	}
	return serviceKey(o.GetNamespace(), svc)
}

// keyHandler queues key(obj) for every add, update and delete.
func keyHandler(queue workqueue.TypedInterface[string], key func(client.Object) string) toolscache.ResourceEventHandler {
	add := func(obj any) {
		if o, ok := asObject(obj); ok {
			if k := key(o); k != "" {
				queue.Add(k)
			}
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    add,
		UpdateFunc: func(oldObj, newObj any) { add(oldObj); add(newObj) },
		DeleteFunc: add,
	}
}

// elastiServiceHandler queues the Service an ElastiService names (both, when spec.service
// changed).
func (s *Server) elastiServiceHandler(queue workqueue.TypedInterface[string]) toolscache.ResourceEventHandler {
	return keyHandler(queue, func(o client.Object) string {
		es, ok := o.(*v1alpha1.ElastiService)
		if !ok {
			return ""
		}
		return serviceKey(es.Namespace, es.Spec.Service)
	})
}

// podHandler queues the pod's namespace when a pod comes, starts leaving (a deletion timestamp:
// its endpoints stop being ready, endpointslice.Ready) or goes: its readiness probe may be the
// one streams show. Other updates do not matter (readiness arrives through the EndpointSlices,
// and the probe is in the immutable part of the spec); resolver pods never matter.
func podHandler(queue workqueue.TypedInterface[string]) toolscache.ResourceEventHandler {
	add := func(obj any) {
		if o, ok := asObject(obj); ok && o.GetLabels()[names.LabelResolver] != "true" {
			queue.Add(namespacePrefix + o.GetNamespace())
		}
	}
	update := func(oldObj, newObj any) {
		o, okOld := asObject(oldObj)
		n, okNew := asObject(newObj)
		if okOld && okNew && o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero() {
			add(newObj)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: update, DeleteFunc: add}
}

// asObject unwraps a delete tombstone.
func asObject(obj any) (client.Object, bool) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := obj.(client.Object)
	return o, ok
}
