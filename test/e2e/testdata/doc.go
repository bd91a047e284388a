// Package testdata embeds the manifests the end-to-end suite and the benchmark apply: Prometheus
// (scraping the demo apps of every namespace) and a ScaledObject-shaped CRD for the KEDA pause
// scenario. Placeholders of the form __NAME__ are replaced before applying.
package testdata

import _ "embed"

// Prometheus is a Prometheus Deployment, Service, ConfigMap and RBAC in __NAMESPACE__, running
// image __IMAGE__. It scrapes itself (job "prometheus") and every pod annotated
// prometheus.io/scrape=true (job "pods", with namespace and pod labels), every second.
//
//go:embed prometheus.yaml
var Prometheus string

// ScaledObjectCRD is a minimal keda.sh/v1alpha1 ScaledObject CRD (schema open), enough for the
// operator to pause and unpause a ScaledObject through its annotations.
//
//go:embed scaledobject-crd.yaml
var ScaledObjectCRD string
