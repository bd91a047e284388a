// Package scaling changes the replica count of an ElastiService's scale target through the
// target's /scale subresource, so any workload kind that has one (Deployment, StatefulSet, Argo
// Rollout, a custom resource) works without code for its kind.
//
// The ScaleHandler is shared by the elastiserver (scale-ups, on any operator replica) and the
// reconciler (scale-downs, on the leader only). Its rules:
//
//   - A scale-up looks at the target's spec replicas, never its status: during a scale-down the
//     status still shows running pods while spec is already 0, and a wake-up must not be lost.
//   - Scale-ups are compare-and-set (the /scale object's resourceVersion is sent with the write),
//     so two operator replicas never fight, and concurrent scale-ups of one target in one process
//     are coalesced into one.
//   - A KEDA ScaledObject named by spec.autoscaler is paused before a scale to zero and unpaused
//     on every scale-up, so KEDA neither fights the scale-down nor keeps a woken target at zero.
package scaling
