// Package cacheopts says what the operator's cache holds, and trims each object to what the
// operator reads of it. The operator watches every Pod, Namespace, Deployment and StatefulSet of
// the cluster (a target may be any of them), and most are nothing to Elasti, so the cache keeps
// only these fields (everything else is dropped by a transform before it is stored):
//
//	object        kept                                                   read by
//	Pod           name, namespace, uid, resourceVersion,                 everything below
//	              deletionTimestamp
//	              label elasti.dev/resolver                              controller (listing sidecars), elastiserver
//	              containers: name, named ports, readiness probe         elastiserver (the probe sent to sidecars)
//	  resolver    + annotation elasti.dev/sidecar-image, nodeName,       trust (image, override), controller
//	  pods        init containers and containers (name, image, ports,    (slice endpoints: IPs, readiness, node,
//	              restartPolicy), phase, pod IPs, container statuses     proxy port), auth (uid, trust)
//	              (name, ready)
//	Namespace     name, uid, resourceVersion, annotation elasti.dev/inject  trust (opt-in)
//	Deployment,   name, namespace, uid, resourceVersion, generation,     controller watches (scale to or from zero
//	StatefulSet   deletionTimestamp, spec.replicas                       by anyone: generation changes)
//	Lease         only the acknowledgement Leases in Elasti's namespace  acks
//	everything    managed fields stripped
//
// Why one Pod informer with a transform rather than a label-selected informer for sidecars: the
// target pods (readiness probes, termination) cannot be named by one label selector, so they need
// an informer over all pods anyway; a second, label-selected one for the few sidecar pods would
// add a second watch of pods and save nothing. The transform keeps the sidecar fields only for
// pods carrying the resolver label, so an unrelated pod costs a few hundred bytes.
//
// A new read of one of these objects through the cached client must add its fields here (the
// tests in this package list what is kept); otherwise it reads a zero value.
package cacheopts
