//go:build integration

package operator

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/names"
)

// Sizes of the cluster BenchmarkCacheMemory builds (issue 12): 1,000 ElastiServices with their
// Services and Deployments, and 5,000 pods that have nothing to do with Elasti.
const (
	benchElastiServices = 1000
	benchUnrelatedPods  = 5000
	benchSidecars       = 4
)

// BenchmarkCacheMemory measures the heap the operator's cache holds once synced, against a real
// API server, for the cache options before issue 12 (every object whole, managed fields
// stripped) and for cacheOptions (what the operator runs with). Run it with
//
//	KUBEBUILDER_ASSETS=... go test -tags integration -run '^$' -bench CacheMemory -benchtime 3x ./operator/
//
// Building the cluster takes a minute or two (about 13,000 writes); each iteration then starts a
// fresh cache with the operator's informers, waits for it to sync, and reports the growth of the
// live heap (after a GC) as heap-MiB, and the pods it holds.
func BenchmarkCacheMemory(b *testing.B) {
	log.SetLogger(logr.Discard())
	e := &envtest.Environment{}
	// Room for 1,000 ClusterIPs (envtest's default range is a /24).
	e.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	env := testenv.Start(b, e)
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	buildCluster(b, c)
	b.Logf("cluster built in %s: %d ElastiServices (+ Services, Deployments), %d unrelated pods, %d sidecar pods",
		time.Since(start).Round(time.Second), benchElastiServices, benchUnrelatedPods, benchSidecars)

	before := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         map[client.Object]cache.ByObject{&coordinationv1.Lease{}: acks.CacheByObject(names.SystemNamespace)},
	}
	all := []client.Object{&v1alpha1.ElastiService{}, &corev1.Service{}, &discoveryv1.EndpointSlice{}, &corev1.Pod{},
		&corev1.Namespace{}, &appsv1.Deployment{}, &appsv1.StatefulSet{}, &coordinationv1.Lease{}}
	podsOnly := []client.Object{&corev1.Pod{}}
	for _, v := range []struct {
		name    string
		opts    cache.Options
		objects []client.Object
	}{
		{"before", before, all}, {"after", cacheOptions(), all},
		{"before-pods-only", before, podsOnly}, {"after-pods-only", cacheOptions(), podsOnly},
	} {
		b.Run(v.name, func(b *testing.B) {
			var heap, pods float64
			n := 0
			for b.Loop() {
				h, p := cacheHeap(b, cfg, env, v.opts, v.objects)
				heap, pods, n = heap+h, pods+p, n+1
			}
			b.ReportMetric(heap/float64(n)/(1<<20), "heap-MiB")
			b.ReportMetric(pods/float64(n), "pods")
		})
	}
}

// cacheHeap starts a cache with opts and informers for objects (all: those the operator uses),
// waits for it to sync, and returns the live heap it added and the number of pods it holds.
func cacheHeap(b *testing.B, cfg *rest.Config, env *testenv.Env, opts cache.Options, objects []client.Object) (float64, float64) {
	b.Helper()
	opts.Scheme = env.Scheme
	runtime.GC()
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca, err := cache.New(cfg, opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objects {
		if _, err := ca.GetInformer(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	go func() { _ = ca.Start(ctx) }()
	if !ca.WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}
	pods := &corev1.PodList{}
	if err := ca.List(ctx, pods); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(ca)
	return float64(m1.HeapAlloc) - float64(m0.HeapAlloc), float64(len(pods.Items))
}

// buildCluster creates the objects, concurrently.
func buildCluster(b *testing.B, c client.Client) {
	b.Helper()
	ctx := context.Background()
	create := func(o client.Object) {
		if err := c.Create(ctx, o); err != nil {
			b.Errorf("creating %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
		}
	}
	nss := []string{names.SystemNamespace, "edge"}
	for i := range 10 {
		nss = append(nss, fmt.Sprintf("shop-%d", i))
	}
	for i := range 50 {
		nss = append(nss, fmt.Sprintf("team-%d", i))
	}
	for _, ns := range nss {
		o := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if ns == "edge" {
			o.Annotations = map[string]string{names.AnnotationInject: names.InjectEnabled}
		}
		create(o)
		create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}) // no controller-manager here
	}
	work := make(chan func(), 64)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for f := range work {
				f()
			}
		})
	}
	for i := range benchSidecars {
		work <- func() {
			p := appPod("edge", fmt.Sprintf("gateway-%d", i), "gateway")
			p.Labels[names.LabelResolver] = "true"
			p.Spec.InitContainers = []corev1.Container{{Name: names.SidecarContainerName, Image: "elasti/sidecar:v0.1.0-dev",
				RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Ports:         []corev1.ContainerPort{{Name: names.PortNameProxy, ContainerPort: names.DefaultProxyPort}}}}
			createWithStatus(b, c, p)
		}
	}
	for i := range benchElastiServices {
		ns, name := fmt.Sprintf("shop-%d", i%10), fmt.Sprintf("svc-%d", i)
		work <- func() {
			labels := map[string]string{"app": name}
			create(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: appPod(ns, name, name).Spec}}})
			create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: labels,
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "metrics", Port: 9090}}}})
			create(&v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.ElastiServiceSpec{
				Service: name, ScaleTargetRef: v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name}}})
		}
	}
	for i := range benchUnrelatedPods {
		work <- func() {
			createWithStatus(b, c, appPod(fmt.Sprintf("team-%d", i%50), fmt.Sprintf("app-%d-7c9f5d8b6-x%04d", i/100, i), fmt.Sprintf("app-%d", i/100)))
		}
	}
	close(work)
	wg.Wait()
}

// createWithStatus creates a pod and writes the status a kubelet would (there is none in envtest).
func createWithStatus(b *testing.B, c client.Client, p *corev1.Pod) {
	ctx := context.Background()
	if err := c.Create(ctx, p); err != nil {
		b.Errorf("creating pod %s/%s: %v", p.Namespace, p.Name, err)
		return
	}
	now := metav1.Now()
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, HostIP: "172.18.0.2", HostIPs: []corev1.HostIP{{IP: "172.18.0.2"}},
		PodIP: "10.244.1.17", PodIPs: []corev1.PodIP{{IP: "10.244.1.17"}}, StartTime: &now, QOSClass: corev1.PodQOSBurstable,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	for _, ct := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ct.Name, Ready: true, Started: ptr.To(true), State: running, Image: ct.Image,
			ImageID:     ct.Image + "@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
			ContainerID: "containerd://8a1f0c3b7e2d4c6f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
		})
	}
	for _, ct := range p.Spec.InitContainers {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{
			Name: ct.Name, Ready: true, Started: ptr.To(true), State: running, Image: ct.Image, ImageID: ct.Image})
	}
	if err := c.Status().Update(ctx, p); err != nil {
		b.Errorf("status of pod %s/%s: %v", p.Namespace, p.Name, err)
	}
}

// appPod is a typical application pod of a Deployment: an app and a log shipper, environment,
// probes, resources, the projected API access volume.
func appPod(ns, name, app string) *corev1.Pod {
	env := make([]corev1.EnvVar, 0, 12)
	for i := range 10 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("APP_SETTING_%d", i), Value: fmt.Sprintf("value-%d-for-%s", i, app)})
	}
	env = append(env, corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	mounts := []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}, {Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: 10, TimeoutSeconds: 1, FailureThreshold: 3}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{"app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "shop",
				"pod-template-hash": "7c9f5d8b6", "team": "payments"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
				"kubectl.kubernetes.io/restartedAt": "2026-01-05T10:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app + "-7c9f5d8b6",
				UID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "app", Image: "registry.example/shop/" + app + ":1.42.0", Env: env, Resources: res, VolumeMounts: mounts,
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}},
					ReadinessProbe: probe("/ready"), LivenessProbe: probe("/live"),
					SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
						Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}},
				{Name: "log-shipper", Image: "registry.example/infra/fluent-bit:3.2.1", Resources: res, VolumeMounts: mounts[1:],
					Args: []string{"--config=/fluent-bit/etc/fluent-bit.conf", "--storage_path=/var/log/flb"}},
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}}}},
				{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
						Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				}}}},
			},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
			NodeName: "node-a", TerminationGracePeriodSeconds: ptr.To[int64](30), ServiceAccountName: "default",
		},
	}
}
