package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/testdata"
)

const (
	// TraefikGatewaySelector is the elasti.dev/gateway-selector of a namespace that runs Traefik
	// (testdata.Traefik labels its pods app.kubernetes.io/name=traefik).
	TraefikGatewaySelector = "app.kubernetes.io/name=traefik"
	// TraefikIngressClass is the IngressClass testdata.Traefik creates and Traefik watches.
	TraefikIngressClass = "traefik"
	// traefikName names the Deployment, Service and ServiceAccount of testdata.Traefik.
	traefikName = "traefik"
)

// Traefik is Traefik v3 (hack/traefik) running as an ingress controller in its own namespace,
// with Elasti's resolver sidecar in its pod. Requests go to its Service's ClusterIP with an
// external Host header, as a load balancer in front of it would send them.
type Traefik struct {
	NS           *Namespace
	IngressClass string
	// ClusterIP of the Service traefik: port 80 is the web entry point, 9000 the API and /ping.
	ClusterIP string
	vars      map[string]string
	fresh     *http.Client
	api       *http.Client
}

func (n *Namespace) traefikVars() map[string]string {
	return map[string]string{
		"__NAMESPACE__":     n.Name,
		"__IMAGE__":         n.env.Config.TraefikImage,
		"__INGRESS_CLASS__": TraefikIngressClass,
	}
}

// DeployTraefik applies testdata.Traefik into n and waits until Traefik is ready, its pod carries
// the resolver sidecar, and its API answers through the Service. n must have been created with
// NamespaceOptions{OptIn: true, GatewaySelector: TraefikGatewaySelector}: the namespace is opted
// in (its label mirrored) before Traefik's pod exists, so the webhook injects the sidecar.
// Traefik.Delete removes the cluster-scoped objects; n.Delete the rest.
func (n *Namespace) DeployTraefik(ctx context.Context) (*Traefik, error) {
	t := &Traefik{NS: n, IngressClass: TraefikIngressClass, vars: n.traefikVars()}
	objs, err := Decode(testdata.Traefik, t.vars)
	if err != nil {
		return nil, err
	}
	if err := n.checkOptedInAs(ctx, objs); err != nil {
		return nil, err
	}
	if err := n.env.CreateAll(ctx, testdata.Traefik, t.vars); err != nil {
		return nil, fmt.Errorf("deploying Traefik in %s: %w", n.Name, err)
	}
	if err := n.WaitDeploymentReady(ctx, traefikName, 1, n.env.Config.Scale(90*time.Second)); err != nil {
		return t, err
	}
	return n.AttachTraefik(ctx)
}

// ApplyTraefik applies testdata.Traefik into n with server-side apply (the demo's way: it runs
// again and again on the same cluster), and does not wait.
func (n *Namespace) ApplyTraefik(ctx context.Context, fieldManager string) error {
	if err := n.env.ApplyAll(ctx, testdata.Traefik, n.traefikVars(), fieldManager); err != nil {
		return fmt.Errorf("applying Traefik in %s: %w", n.Name, err)
	}
	return nil
}

// AttachTraefik returns the Traefik of testdata.Traefik running in n, once every pod of it
// carries the resolver sidecar and its API answers through the Service.
func (n *Namespace) AttachTraefik(ctx context.Context) (*Traefik, error) {
	t := &Traefik{NS: n, IngressClass: TraefikIngressClass, vars: n.traefikVars()}
	if err := n.checkTraefikInjected(ctx); err != nil {
		return t, err
	}
	svc, err := n.env.Kube.CoreV1().Services(n.Name).Get(ctx, traefikName, metav1.GetOptions{})
	if err != nil {
		return t, fmt.Errorf("reading the Traefik Service: %w", err)
	}
	t.ClusterIP = svc.Spec.ClusterIP
	t.fresh = GatewayClient(t.ClusterIP+":80", false)
	t.api = &http.Client{Timeout: 3 * time.Second}
	return t, t.waitAPI(ctx)
}

// checkOptedInAs fails unless the live namespace carries the annotations of the manifest's
// Namespace and the mirrored label, i.e. a pod created now gets the sidecar.
func (n *Namespace) checkOptedInAs(ctx context.Context, objs []*unstructured.Unstructured) error {
	live, err := n.env.Kube.CoreV1().Namespaces().Get(ctx, n.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading namespace %s: %w", n.Name, err)
	}
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			continue
		}
		for k, v := range o.GetAnnotations() {
			if live.Annotations[k] != v {
				return fmt.Errorf("namespace %s has %s=%q, Traefik's manifest wants %q: create it with NamespaceOptions{OptIn: true, GatewaySelector: TraefikGatewaySelector}",
					n.Name, k, live.Annotations[k], v)
			}
		}
	}
	if live.Labels[names.LabelInject] != names.InjectEnabled {
		return fmt.Errorf("namespace %s has no label %s=%s yet: the webhook would not see Traefik's pod", n.Name, names.LabelInject, names.InjectEnabled)
	}
	return nil
}

func (n *Namespace) checkTraefikInjected(ctx context.Context) error {
	pods, err := n.env.PodsBySelector(ctx, n.Name, TraefikGatewaySelector)
	if err != nil {
		return err
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		all := append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...)
		if !slices.ContainsFunc(all, func(c corev1.Container) bool { return c.Name == names.SidecarContainerName }) {
			return fmt.Errorf("the Traefik pod %s/%s has no %s container: the webhook did not inject it (see its Events)", n.Name, p.Name, names.SidecarContainerName)
		}
	}
	return nil
}

// waitAPI waits until Traefik's API answers on the ClusterIP (kube-proxy has synced the Service).
func (t *Traefik) waitAPI(ctx context.Context) error {
	return Poll(ctx, t.NS.env.Config.Scale(30*time.Second), 200*time.Millisecond, "Traefik's API on "+t.ClusterIP+":9000",
		func(ctx context.Context) (bool, string, error) {
			var v struct{ Version string }
			if _, err := t.getAPI(ctx, "/api/version", &v); err != nil {
				return false, "", err
			}
			return v.Version != "", "version " + v.Version, nil
		})
}

// Delete removes what DeployTraefik created outside its namespace: the ClusterRole and the
// ClusterRoleBinding. The namespace goes with t.NS.Delete. The IngressClass stays: every Traefik
// deployed from this manifest (another scenario's, the demo's in elasti-traefik) shares it, and
// on its own it routes nothing.
func (t *Traefik) Delete(ctx context.Context) error {
	objs, err := Decode(testdata.Traefik, t.vars)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range objs {
		if o.GetNamespace() != "" || o.GetKind() == "Namespace" || o.GetKind() == "IngressClass" {
			continue
		}
		if err := t.NS.env.Client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", o.GetKind(), o.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// Client returns an HTTP client whose every connection goes to Traefik's web entry point (the
// Service's ClusterIP, port 80), whatever the URL says: the URL's host is the Host header.
func (t *Traefik) Client(keepAlive bool) *http.Client {
	return GatewayClient(t.ClusterIP+":80", keepAlive)
}

// Get sends GET http://host/path to Traefik on a new connection and reads the answer.
func (t *Traefik) Get(ctx context.Context, host, path string) (*Response, error) {
	return Get(ctx, t.fresh, "http://"+host+path)
}

// TraefikRouter is what Traefik's API says about one HTTP router.
type TraefikRouter struct {
	Name    string   `json:"name"`
	Rule    string   `json:"rule"`
	Service string   `json:"service"`
	Status  string   `json:"status"`
	Errors  []string `json:"error"`
}

// TraefikService is what Traefik's API says about one HTTP service (a load balancer).
type TraefikService struct {
	Name         string   `json:"name"`
	Status       string   `json:"status"`
	Errors       []string `json:"error"`
	LoadBalancer *struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
	} `json:"loadBalancer"`
	// ServerStatus is UP or DOWN per server URL.
	ServerStatus map[string]string `json:"serverStatus"`
}

// Servers are the URLs the service sends requests to, sorted.
func (s *TraefikService) Servers() []string {
	if s == nil || s.LoadBalancer == nil {
		return nil
	}
	var out []string
	for _, sv := range s.LoadBalancer.Servers {
		out = append(out, sv.URL)
	}
	slices.Sort(out)
	return out
}

func (s *TraefikService) String() string {
	if s == nil {
		return "(absent)"
	}
	return fmt.Sprintf("%s status=%s servers=%v errors=%v", s.Name, s.Status, s.Servers(), s.Errors)
}

// traefikNormalize is how Traefik's Kubernetes providers turn names into keys: every run of
// characters other than letters and digits becomes one "-" (provider.Normalize in Traefik).
func traefikNormalize(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }), "-")
}

// TraefikServiceName is the API name of the service Traefik's Ingress provider makes for a
// backend: namespace, Service and port (its number, or its name when the Ingress names it).
func TraefikServiceName(ns, service, port string) string {
	return traefikNormalize(ns+"-"+service+"-"+port) + "@kubernetes"
}

// TraefikRouterName is the API name of the router for one rule and path of an Ingress.
func TraefikRouterName(ns, ingress, host, path string) string {
	return strings.TrimPrefix(traefikNormalize(ns+"-"+ingress+"-"+host+path), "-") + "@kubernetes"
}

// Router reads one router; nil when Traefik has none of that name.
func (t *Traefik) Router(ctx context.Context, name string) (*TraefikRouter, error) {
	var r TraefikRouter
	found, err := t.getAPI(ctx, "/api/http/routers/"+url.PathEscape(name), &r)
	if !found || err != nil {
		return nil, err
	}
	return &r, nil
}

// Service reads one service; nil when Traefik has none of that name.
func (t *Traefik) Service(ctx context.Context, name string) (*TraefikService, error) {
	var s TraefikService
	found, err := t.getAPI(ctx, "/api/http/services/"+url.PathEscape(name), &s)
	if !found || err != nil {
		return nil, err
	}
	return &s, nil
}

// Services lists every HTTP service Traefik knows.
func (t *Traefik) Services(ctx context.Context) ([]TraefikService, error) {
	var out []TraefikService
	_, err := t.getAPI(ctx, "/api/http/services?per_page=1000", &out)
	return out, err
}

// getAPI GETs path from Traefik's API and decodes the JSON answer into v; found is false on 404.
func (t *Traefik) getAPI(ctx context.Context, path string, v any) (found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.ClusterIP+":9000"+path, nil)
	if err != nil {
		return false, fmt.Errorf("building Traefik API request: %w", err)
	}
	resp, err := t.api.Do(req)
	if err != nil {
		return false, fmt.Errorf("calling Traefik's API %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("calling Traefik's API %s: status %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return false, fmt.Errorf("decoding the answer of Traefik's API %s: %w", path, err)
	}
	return true, nil
}

// WaitIngress waits until Traefik serves every rule and path of the Ingress: each one's router
// is enabled and its service is enabled with at least one server. It returns those services.
func (t *Traefik) WaitIngress(ctx context.Context, ns, name string) ([]*TraefikService, error) {
	ing, err := t.NS.env.Kube.NetworkingV1().Ingresses(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading Ingress %s/%s: %w", ns, name, err)
	}
	var routers []string
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			routers = append(routers, TraefikRouterName(ns, name, r.Host, p.Path))
		}
	}
	if len(routers) == 0 {
		return nil, fmt.Errorf("the Ingress %s/%s has no HTTP rule", ns, name)
	}
	var services []*TraefikService
	err = Poll(ctx, t.NS.env.Config.Scale(60*time.Second), 200*time.Millisecond, fmt.Sprintf("Traefik to serve Ingress %s/%s", ns, name),
		func(ctx context.Context) (bool, string, error) {
			services = services[:0]
			for _, rn := range routers {
				done, state, svc, err := t.routerServes(ctx, rn)
				if err != nil || !done {
					return false, state, err
				}
				services = append(services, svc)
			}
			return true, "", nil
		})
	return services, err
}

// routerServes reports whether the router is enabled and its service has a server.
func (t *Traefik) routerServes(ctx context.Context, name string) (bool, string, *TraefikService, error) {
	r, err := t.Router(ctx, name)
	if err != nil || r == nil {
		return false, "no router " + name, nil, err
	}
	if r.Status != "enabled" {
		return false, fmt.Sprintf("router %s status=%s errors=%v", name, r.Status, r.Errors), nil, nil
	}
	svcName := r.Service
	if !strings.Contains(svcName, "@") {
		svcName += "@kubernetes"
	}
	s, err := t.Service(ctx, svcName)
	if err != nil || s == nil || s.Status != "enabled" || len(s.Servers()) == 0 {
		return false, "router " + name + " enabled, service " + s.String(), nil, err
	}
	return true, "", s, nil
}

// WaitServers waits until Traefik's service for a backend (namespace, Service, port as the
// Ingress names it) sends to servers that ok accepts, and returns them: e.g. until it has
// switched from Elasti's sidecars to the woken pods.
func (t *Traefik) WaitServers(ctx context.Context, ns, service, port, what string, ok func(servers []string) bool) ([]string, error) {
	name := TraefikServiceName(ns, service, port)
	var servers []string
	err := Poll(ctx, t.NS.env.Config.Scale(60*time.Second), 100*time.Millisecond, "Traefik service "+name+": "+what,
		func(ctx context.Context) (bool, string, error) {
			s, err := t.Service(ctx, name)
			if err != nil {
				return false, "", err
			}
			servers = s.Servers()
			return s != nil && ok(servers), s.String(), nil
		})
	return servers, err
}

// Dump writes what a person debugging a failure through Traefik looks at: its namespace (pods,
// slices, Events), the services its API knows with their servers, and the tail of the logs of
// Traefik and of its resolver sidecar.
func (t *Traefik) Dump(ctx context.Context, w io.Writer) {
	t.NS.Dump(ctx, w)
	if svcs, err := t.Services(ctx); err != nil {
		fmt.Fprintf(w, "traefik services: %v\n", err)
	} else {
		for _, s := range svcs {
			fmt.Fprintf(w, "traefik service %s serverStatus=%v\n", s.String(), s.ServerStatus)
		}
	}
	pods, err := t.NS.env.PodsBySelector(ctx, t.NS.Name, TraefikGatewaySelector)
	if err != nil {
		fmt.Fprintf(w, "%v\n", err)
		return
	}
	for _, p := range pods {
		for _, c := range []string{traefikName, names.SidecarContainerName} {
			b, err := t.NS.env.Kube.CoreV1().Pods(t.NS.Name).GetLogs(p.Name, &corev1.PodLogOptions{Container: c, TailLines: ptr.To[int64](20)}).DoRaw(ctx)
			if err != nil {
				fmt.Fprintf(w, "logs of %s/%s: %v\n", p.Name, c, err)
				continue
			}
			fmt.Fprintf(w, "---- logs of %s/%s ----\n%s\n", p.Name, c, b)
		}
	}
}

// IngressOptions describe an Ingress with one host rule and one path to one Service port, with
// nothing Elasti-specific on it: no annotation at all.
type IngressOptions struct {
	Name string
	// Host is the external host name of the rule (e.g. "shop.example.test").
	Host string
	// Path is a Prefix path (default "/").
	Path    string
	Service string
	// Port is the Service port's number (default 80); PortName names it instead.
	Port     int32
	PortName string
	// Class is the IngressClass (default TraefikIngressClass).
	Class string
}

// CreateIngress creates a networking.k8s.io/v1 Ingress in n from o.
func (n *Namespace) CreateIngress(ctx context.Context, o IngressOptions) (*networkingv1.Ingress, error) {
	if o.Path == "" {
		o.Path = "/"
	}
	if o.Class == "" {
		o.Class = TraefikIngressClass
	}
	port := networkingv1.ServiceBackendPort{Number: o.Port, Name: o.PortName}
	if o.PortName == "" && o.Port == 0 {
		port.Number = 80
	}
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To(o.Class),
			Rules: []networkingv1.IngressRule{{
				Host: o.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     o.Path,
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: o.Service, Port: port,
						}},
					}},
				}},
			}},
		},
	}
	out, err := n.env.Kube.NetworkingV1().Ingresses(n.Name).Create(ctx, ing, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating Ingress %s/%s: %w", n.Name, o.Name, err)
	}
	return out, nil
}
