// Package admission is the webhook's admission.Handler: given a decoded AdmissionReview it
// re-checks the pod's namespace from the informer cache, asks package inject what to do, and
// answers with a JSON patch, warnings, a metric and (off dry-run) an Event. controller-runtime's
// admission.Webhook (Handler.Webhook) does the serving: body limit, decoding, encoding.
//
// It never fails a pod: every review with a UID is "allowed", with or without a patch; a pod that
// cannot be decoded is admitted unchanged with a warning. Bodies that are not such a review get an
// error response from controller-runtime's serving (code 400, 413 over 7 MiB).
package admission
