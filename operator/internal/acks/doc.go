// Package acks records which services each resolver sidecar has acknowledged on its stream, and
// answers the leader's question before a scale to zero: does every ready sidecar in the proxy
// slice know this service?
//
// Acknowledgements live in one Lease per sidecar pod in Elasti's own namespace
// (names.SystemNamespace), named after the pod's UID, one annotation per service:
//
//	apiVersion: coordination.k8s.io/v1
//	kind: Lease
//	metadata:
//	  name: elasti-acks-<pod uid>
//	  namespace: elasti-system
//	  labels: {elasti.dev/sidecar-acks: "true"}
//	  annotations:
//	    shop.ack.elasti.dev/orders: ""      # <namespace>.ack.elasti.dev/<service>
//	    shop.ack.elasti.dev/cart: ""
//	    elasti.dev/stream: 3f0c9a71d2e4b856       # while a stream is connected
//	    elasti.dev/instance: 9d41c07ab3e2f615     # the sidecar process
//	spec: {holderIdentity: edge/gateway-7c9f-a, renewTime: ...}
//
// Why a Lease per sidecar, and not the pod (as before), the stream, or one object per service:
//
//   - Not the pod: writing there needs patch on every pod of the cluster, which is a path to
//     taking the cluster over from a compromised operator. Leases in Elasti's namespace need
//     nothing the operator does not already hold for leader election.
//   - Not the stream alone: every operator replica serves streams and acks, but only the leader
//     scales down, and a sidecar's ack may reach any replica. The leader must read acks that
//     another replica received, so they go through the API server.
//   - One object per sidecar, one annotation per service: Record sends a JSON merge patch of the
//     annotations that changed (with the resourceVersion it compared against), so an ack that
//     adds one service costs one small write whatever the number of services (issue 17). One
//     object per (sidecar, service) would make that a create per service and thousands of
//     objects; one annotation holding the whole list would rewrite it all every time.
//
// The same Lease says whether the sidecar is connected (presence.go): the replica serving its
// stream writes elasti.dev/stream (the stream's id) and elasti.dev/instance (the process's id,
// from the stream request) when the stream connects, and removes elasti.dev/stream when the
// sidecar goes away. A new instance drops every acknowledgement in the same write. The leader
// lists a sidecar ready for a Service only while it is connected and has acknowledged that
// Service: this, not a readiness probe, places sidecars in proxy slices.
//
// Every write is a merge patch conditional on the resourceVersion it was computed from, read from
// the cache first and from the API server after a conflict. A decision to write nothing is
// confirmed from the API server: a replica's cache can be behind another replica's write (a
// restarted resolver's stream reaches one replica, which drops the old process's
// acknowledgements; its Ack of the same services reaches the other, whose cache still shows them).
//
// Every replica caches only these Leases (a label-selected informer in Elasti's namespace). The
// leader deletes the Lease of a pod that no longer exists (Collector). The annotations of one
// object are limited to 256 KiB in total, so one sidecar can acknowledge about 9,000 services of
// typical names (30 characters), and at least 1,700 of the longest.
package acks
