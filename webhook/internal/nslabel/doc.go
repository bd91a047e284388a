// Package nslabel holds the webhook binary's three small controllers, all run by the leader only.
//
// Mirror copies a namespace's opt-in annotation (elasti.dev/inject: enabled) onto the label
// elasti.dev/inject, because the MutatingWebhookConfiguration's namespaceSelector sees only
// labels: namespaces that did not opt in never call the webhook. The webhook binary mirrors, not
// the operator: it already watches namespaces (the handler re-checks the annotation from that
// cache), the opt-in semantics live in one component, and the operator keeps no write access to
// namespaces.
//
// Uninjected watches pods (trimmed to what the truth table reads) and flags gateway pods of
// opted-in namespaces that run without the sidecar, e.g. created while the webhook was
// unavailable (failurePolicy: Ignore) or before the namespace opted in: a Warning Event on the pod
// and the gauge elasti_webhook_uninjected_gateway_pods.
//
// CAPublisher keeps a ConfigMap with the operator's CA bundle in every opted-in namespace, so
// that injected sidecars (which project it) follow a CA rotation without a restart.
package nslabel
