// Package testdata embeds the manifests the end-to-end suite and the benchmark apply: Prometheus
// (scraping the demo apps of every namespace) and Traefik as an ingress controller. Placeholders of the form __NAME__ are
// replaced before applying.
package testdata

import _ "embed"

// Prometheus is a Prometheus Deployment, Service, ConfigMap and RBAC in __NAMESPACE__, running
// image __IMAGE__. It scrapes itself (job "prometheus") and every pod annotated
// prometheus.io/scrape=true (job "pods", with namespace and pod labels), every second.
//
//go:embed prometheus.yaml
var Prometheus string

// Traefik is Traefik v3 as an ingress controller (Kubernetes Ingress provider) in __NAMESPACE__,
// opted in to Elasti with gateway selector app.kubernetes.io/name=traefik: the Namespace, a
// ServiceAccount, a ClusterRole and its binding (named __NAMESPACE__-traefik), the IngressClass
// __INGRESS_CLASS__, a Deployment running image __IMAGE__ (entry points web :8000 and traefik
// :9000 with the API and /ping) and a Service traefik (80 → web, 9000 → traefik). hack/demo.sh
// applies it too.
//
//go:embed traefik.yaml
var Traefik string
