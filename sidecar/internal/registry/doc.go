// Package registry is the sidecar's view of the ElastiServices, built only from the operator's
// stream (the sidecar has no Kubernetes API access). It answers "which service is this host?",
// "where are its pods?" and "which of them can serve?", and tells its listener which services
// changed so held requests can be woken.
//
// The view is immutable and swapped atomically on every applied message, so lookups on the
// request path take no lock. Endpoints the sidecar's own probe found answering before the
// kubelet marked them ready are kept beside the view ("answering" marks).
package registry
