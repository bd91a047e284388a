// Package chart tests the Helm chart charts/elasti against the kustomize overlays in manifests/
// (build tag chart; `make test-chart` builds helm and kubectl first and runs it):
//
//   - with default values, and with certificates.mode=cert-manager, `helm template` renders the
//     same objects as `kubectl kustomize` of manifests/overlays/self-managed and
//     manifests/overlays/cert-manager, object by object (kind, name, namespace, labels, RBAC
//     rules, webhook configuration, containers with their args, ports, env, probes and
//     volumes), apart from the labels Helm adds and the Namespace, which Helm cannot own
//     (docs/install.md);
//   - the CRD in charts/elasti/crds is byte for byte the generated one;
//   - values reach the objects they name, and values.schema.json rejects bad input with a
//     message that says what is wrong.
package chart
