// Package admission is the webhook's HTTP handler: it decodes an AdmissionReview, re-checks the
// pod's namespace from the informer cache, asks package inject what to do, and answers with a
// JSON patch, warnings, a metric and (off dry-run) an Event.
//
// It never fails a pod: every outcome other than a malformed request is "allowed", with or
// without a patch. Malformed AdmissionReview bodies get HTTP 400 and bodies over MaxBodyBytes get
// 413; a pod that cannot be decoded is admitted unchanged with a warning.
package admission
