package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

const (
	traefikNS   = "elasti-traefik"
	traefikHost = "demo.example.test"
)

// ingressManifest routes the external host to demo-app:80 through Traefik, with no Elasti
// annotation.
const ingressManifest = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: demo-app, namespace: elasti-demo}
spec:
  ingressClassName: traefik
  rules:
  - host: ` + traefikHost + `
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: demo-app, port: {number: 80}}}}
`

// deployTraefik is step 8: Traefik in its own opted-in namespace, with the sidecar, and the
// Ingress for the external host served.
func (d *demo) deployTraefik(ctx context.Context) (*framework.Traefik, error) {
	d.say("8. Traefik v3: a real ingress controller in namespace %s", traefikNS)
	t := time.Now()
	ns := d.env.ExistingNamespace(traefikNS)
	if err := ns.ApplyTraefik(ctx, fieldManager); err != nil {
		return nil, err
	}
	if err := d.optedIn(ctx, ns.Name); err != nil {
		return nil, err
	}
	if _, err := d.injected(ctx, ns, "traefik", framework.TraefikGatewaySelector); err != nil {
		return nil, err
	}
	tr, err := ns.AttachTraefik(ctx)
	if err != nil {
		return nil, err
	}
	d.since("Traefik ready, with the resolver sidecar", t)
	t = time.Now()
	if err := d.env.ApplyAll(ctx, ingressManifest, nil, fieldManager); err != nil {
		return nil, err
	}
	if _, err := tr.WaitIngress(ctx, d.ns.Name, appName); err != nil {
		return nil, err
	}
	d.since("Ingress for "+traefikHost+" (no Elasti annotation) served by Traefik", t)
	return tr, nil
}

// wakeThroughTraefik is step 10: once Traefik sends demo-app's traffic to the sidecar port the
// operator allocated, a request for the external host wakes the app.
func (d *demo) wakeThroughTraefik(ctx context.Context, tr *framework.Traefik) error {
	t := time.Now()
	es, err := d.app.GetElastiService(ctx)
	if err != nil {
		return err
	}
	port := sidecarPort(es.Status.SidecarPorts, "http")
	if port == 0 {
		return fmt.Errorf("ElastiService %s/%s has no sidecar port for its Service port http (status.sidecarPorts %v)", d.ns.Name, appName, es.Status.SidecarPorts)
	}
	suffix := fmt.Sprintf(":%d", port)
	if _, err := tr.WaitServers(ctx, d.ns.Name, appName, "80", "servers on the sidecars' port"+suffix, func(servers []string) bool {
		return len(servers) > 0 && allHaveSuffix(servers, suffix)
	}); err != nil {
		return err
	}
	d.since(fmt.Sprintf("Traefik sends demo-app's traffic to the sidecars' port %d (proxy EndpointSlice read)", port), t)
	d.say("10. a request to http://%s/ through Traefik wakes the app", traefikHost)
	t = time.Now()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	resp, err := tr.Get(rctx, traefikHost, "/")
	if err == nil && resp.Status != 200 {
		err = fmt.Errorf("answered %d: %s", resp.Status, resp.Body)
	}
	if err != nil {
		tr.Dump(context.WithoutCancel(ctx), d.w)
		return fmt.Errorf("the request through Traefik (it connects to the sidecar port %d with Host: %s; Traefik's and the sidecar's logs are above): %w", port, traefikHost, err)
	}
	d.detail("curl -H 'Host: %s' http://%s/  ->  %d %s", traefikHost, tr.ClusterIP, resp.Status, resp.Body)
	d.record("waking request through Traefik, total (client)", resp.Duration)
	if _, err := d.app.WaitState(ctx, d.env.Config.Scale(60*time.Second), "serve mode", framework.InServeMode); err != nil {
		return err
	}
	d.since("ElastiService back in serve mode (after the request through Traefik)", t)
	return nil
}

func allHaveSuffix(ss []string, suffix string) bool {
	for _, s := range ss {
		if !strings.HasSuffix(s, suffix) {
			return false
		}
	}
	return true
}
