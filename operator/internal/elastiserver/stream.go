package elastiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	ackstore "github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// serveStream handles GET /sidecar/v1/stream: 401, 405, 503 until the first full build of the
// state, then 200 and a body of NDJSON Messages that ends only when the sidecar or the server
// goes away: a snapshot, then updates as things change, and heartbeats in between.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, http.MethodGet)
		return
	}
	select {
	case <-s.ready:
	default:
		writeRetryAfter(w, http.StatusServiceUnavailable, 1, "the operator is starting; retry")
		return
	}
	instance := r.Header.Get(stream.InstanceHeader)
	if instance != "" && !stream.InstanceValid(instance) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("header %s must be 1 to 32 lowercase hex digits", stream.InstanceHeader))
		return
	}
	log := s.log.WithValues("caller", caller.Key(), "instance", instance)
	if instance == "" {
		log.Info("sidecar sent no " + stream.InstanceHeader + ": it predates sidecar ports and is not listed in proxy slices; restart its gateway to get the current sidecar")
	}
	sc := ackstore.Sidecar{Namespace: caller.Namespace, Name: caller.PodName, UID: types.UID(caller.PodUID)}
	id := fmt.Sprintf("%016x", rand.Uint64())
	// Connected before the snapshot is sent: the sidecar acknowledges only what it receives, so
	// no acknowledgement of this process can be dropped by this write.
	if err := s.opts.Acks.Connect(r.Context(), sc, instance, id); err != nil {
		log.Error(err, "recording a stream connection")
		writeRetryAfter(w, http.StatusServiceUnavailable, 1, "recording the connection: "+err.Error())
		return
	}
	streamsConnected.Inc()
	defer streamsConnected.Dec()
	log.V(1).Info("sidecar stream connected", "stream", id)
	err := s.runStream(r.Context(), w, r, log)
	log.V(1).Info("sidecar stream ended", "reason", err)
	if s.stopping.Load() {
		// This replica is going away, not the sidecar: it reconnects to another replica, and
		// until then its listeners stay open, so it stays in the proxy slices.
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.opts.Acks.Disconnect(ctx, sc, id); err != nil {
		log.Error(err, "recording a stream disconnection")
	}
}

// streamWriter writes Messages with increasing versions, one line each, flushed.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	enc     *json.Encoder
	timeout time.Duration
	version uint64
}

func (sw *streamWriter) write(msg stream.Message) error {
	if msg.Type == stream.TypeHeartbeat {
		msg.Version = sw.version
	} else {
		sw.version++
		msg.Version = sw.version
	}
	// A sidecar that stops reading must not hold this goroutine (and its buffers) forever.
	_ = sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout))
	if err := sw.enc.Encode(msg); err != nil {
		return fmt.Errorf("writing %s message: %w", msg.Type, err)
	}
	if err := sw.rc.Flush(); err != nil {
		return fmt.Errorf("flushing %s message: %w", msg.Type, err)
	}
	streamMessages.WithLabelValues(string(msg.Type)).Inc()
	return nil
}

// runStream subscribes to the state and writes until ctx ends or a write fails.
func (s *Server) runStream(ctx context.Context, w http.ResponseWriter, r *http.Request, log logr.Logger) error {
	sub, snapshot := s.state.subscribe()
	defer s.state.unsubscribe(sub)

	w.Header().Set("Content-Type", stream.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w), timeout: s.opts.WriteTimeout}
	if err := sw.write(stream.Message{Type: stream.TypeSnapshot, Services: snapshot}); err != nil {
		return err
	}
	heartbeat := time.NewTicker(s.opts.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-heartbeat.C:
			if err := s.stillAuthenticated(r); err != nil {
				return err
			}
			if err := sw.write(stream.Message{Type: stream.TypeHeartbeat}); err != nil {
				return err
			}
		case <-sub.notify:
			msg, ok := s.state.pending(sub)
			if !ok {
				continue
			}
			if err := sw.write(msg); err != nil {
				return err
			}
			log.V(2).Info("stream message sent", "type", msg.Type, "version", sw.version,
				"services", len(msg.Services), "removed", len(msg.Removed))
		}
	}
}

// stillAuthenticated re-checks the stream's caller at each heartbeat: its pod must still exist
// and carry the sidecar, and its token must still be valid (the review is cached, so this is
// usually a cache read). A stream thus ends when its token expires, and the sidecar reconnects
// with the token the kubelet has rotated in. A failure of the check itself keeps the stream.
func (s *Server) stillAuthenticated(r *http.Request) error {
	_, err := s.opts.Authenticator.Authenticate(r.Context(), r)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return fmt.Errorf("caller no longer authenticated: %w", err)
	}
	return nil
}
