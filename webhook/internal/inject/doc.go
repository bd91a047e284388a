// Package inject decides whether a pod gets Elasti's resolver sidecar and, if so, mutates it.
//
// It is pure logic: no API calls, no clock, no globals. The admission handler gives it the pod,
// its namespace (from the informer cache) and a Config snapshot, and gets back a Result: the
// decision with a bounded Reason, human warnings, and the mutated pod. Patch turns the result into
// the JSON patch the API server applies.
//
// The decision is a truth table (Rules in truth.go, rendered into docs/webhook.md): rules are
// evaluated in order and the first one that matches skips injection with its reason. Injection is
// idempotent: the status annotation (names.AnnotationSidecarStatus) lists exactly what was added,
// and Mutate strips that first, so a reinvocation (reinvocationPolicy: IfNeeded) or a re-created
// copy of an injected pod yields the same pod, not a second sidecar.
package inject
