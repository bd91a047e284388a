package stream

import "time"

// HTTP paths served by the elastiserver. Every request carries
// "Authorization: Bearer <projected ServiceAccount token>" with the Elasti audience.
const (
	// StreamPath: GET; the response is a never-ending application/x-ndjson body of Messages.
	StreamPath = "/sidecar/v1/stream"
	// AckPath: POST an Ack (JSON) after applying a Message; answered 204.
	AckPath = "/sidecar/v1/ack"
	// IncomingRequestPath: POST a messages.RequestCount (a stable path: running sidecars POST to it).
	IncomingRequestPath = "/informer/incoming-request"
	// ContentType of the stream body.
	ContentType = "application/x-ndjson"
	// InstanceHeader carries, on a stream request, an id the sidecar process draws once at start
	// (16 lowercase hex digits; see InstanceValid). The operator records it with the stream in
	// the sidecar's acknowledgement Lease: a new id means a new process, whose ports are closed
	// until it acknowledges again, so its earlier acknowledgements are dropped.
	InstanceHeader = "Elasti-Sidecar-Instance"
	// HeartbeatInterval: the operator writes a heartbeat at least this often; a sidecar that hears
	// nothing for 3 intervals drops the connection and reconnects.
	HeartbeatInterval = 10 * time.Second
)

// MessageType says how to apply a Message.
type MessageType string

const (
	// TypeSnapshot replaces the sidecar's whole view with Services. It is always the first message
	// of a stream; a sidecar is "synced" once it has applied one.
	TypeSnapshot MessageType = "snapshot"
	// TypeUpdate upserts Services (by namespace/name) and deletes the keys in Removed.
	TypeUpdate MessageType = "update"
	// TypeHeartbeat carries no change; Version repeats the last version sent.
	TypeHeartbeat MessageType = "heartbeat"
)

// Message is one line of the stream.
type Message struct {
	Type MessageType `json:"type"`
	// Version increases with every snapshot and update on one stream (it restarts on reconnect;
	// the first message is then a snapshot).
	Version uint64 `json:"version"`
	// Services: for a snapshot, all of them; for an update, the changed ones.
	Services []Service `json:"services,omitempty"`
	// Removed: namespace/name keys no longer known (update only).
	Removed []string `json:"removed,omitempty"`
}

// Service mode as seen by the sidecar.
const (
	// ModeServe: the Service points at pods; a request still reaching a sidecar is forwarded.
	ModeServe = "serve"
	// ModeProxy: the Service points at the sidecars; requests are held until a pod can serve.
	ModeProxy = "proxy"
)

// Service is everything a sidecar needs to hold and forward requests for one ElastiService.
// Every ElastiService is sent, in both modes, so a sidecar never meets a host it does not know when
// the Service is switched to proxy mode.
type Service struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Mode is ModeServe or ModeProxy.
	Mode string `json:"mode"`
	// Hosts are the names clients use, without port: name, name.ns, name.ns.svc,
	// name.ns.svc.<cluster domain>.
	Hosts []string `json:"hosts"`
	// ClusterIPs of the Service (IPv4 and/or IPv6), matched against a Host that is an IP.
	ClusterIPs []string `json:"clusterIPs,omitempty"`
	// Ports of the Service. A request arriving on a port's SidecarPort is for that port; on the
	// sidecar's direct listener (no SidecarPort involved), the port in Host selects one, otherwise
	// the port numbered 80 if there is one, otherwise the first.
	Ports []Port `json:"ports"`
	// Endpoints are the target's pods (from the Service's own EndpointSlices), ready or not.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Probe is the target pods' readiness probe when it is HTTP or TCP; the sidecar may run it
	// itself against not-yet-ready endpoints to forward as soon as the application answers.
	Probe *Probe `json:"probe,omitempty"`
	// HoldTimeoutSeconds overrides the sidecar's default hold timeout when > 0.
	HoldTimeoutSeconds int32 `json:"holdTimeoutSeconds,omitempty"`
}

// Key returns "namespace/name".
func (s Service) Key() string { return s.Namespace + "/" + s.Name }

// Port is one Service port.
type Port struct {
	// Name of the Service port ("" when the Service has a single unnamed port).
	Name string `json:"name,omitempty"`
	// Port is the Service port number clients dial.
	Port int32 `json:"port"`
	// Protocol: TCP (others are not proxied).
	Protocol string `json:"protocol,omitempty"`
	// AppProtocol as declared on the Service port (e.g. "kubernetes.io/h2c", "http", "grpc").
	AppProtocol string `json:"appProtocol,omitempty"`
	// SidecarPort is the port allocated to this Service port (ElastiService status.sidecarPorts):
	// every sidecar listens on it, and in proxy mode the Service's EndpointSlices map this Service
	// port to it. A connection arriving on it is for this Service port, whatever its Host says.
	// A sidecar acknowledges a service only once it listens on every SidecarPort of it. 0: none
	// allocated yet (or the range is exhausted).
	SidecarPort int32 `json:"sidecarPort,omitempty"`
}

// Endpoint is one target pod address.
type Endpoint struct {
	// Pod name (for logs and balancing stability).
	Pod string `json:"pod,omitempty"`
	// IP of the pod.
	IP string `json:"ip"`
	// Ready is the EndpointSlice's ready condition (the kubelet's view).
	Ready bool `json:"ready"`
	// Ports maps Service port name to the pod's port number for that Service port.
	Ports map[string]int32 `json:"ports"`
}

// Probe types.
const (
	ProbeHTTP = "http"
	ProbeTCP  = "tcp"
)

// Probe is a readiness probe the sidecar can run against an endpoint.
type Probe struct {
	Type string `json:"type"`
	// Port is the pod port to probe (resolved to a number).
	Port int32 `json:"port"`
	// Path, Scheme (HTTP or HTTPS) and Headers for HTTP probes.
	Path    string            `json:"path,omitempty"`
	Scheme  string            `json:"scheme,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// TimeoutSeconds of one probe (from the pod spec, default 1).
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// Ack is what a sidecar POSTs to AckPath after applying a Message. It is either full (Services
// set, possibly empty) or a change (Services null, Change set) relative to the sidecar's previous
// Ack on the same stream connection: the first Ack of a connection, and any after a failed one,
// are full. A change costs the services that changed, not all of them: with 1,000 services
// appearing one by one, full Acks would send 8.0 MB, changes send 68 kB (issue 17;
// streamclient.TestAckTrafficIsLinear).
type Ack struct {
	// Version of the last applied Message.
	Version uint64 `json:"version"`
	// Services are the namespace/name keys the sidecar now knows, sorted (a full Ack).
	Services []string `json:"services"`
	// Change is what changed since the previous Ack (Services is null).
	Change *AckChange `json:"change,omitempty"`
}

// AckChange lists the keys a sidecar acknowledged and those it no longer does.
type AckChange struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Full reports whether a is a full Ack.
func (a Ack) Full() bool { return a.Services != nil }

// InstanceValid reports whether id is a well-formed InstanceHeader value: 1 to 32 characters of
// [0-9a-f].
func InstanceValid(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
