package elastiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// MaxAckBytes bounds an Ack body: 2000 keys of the longest form fit, and so does the pod
// annotation the keys end up in (annotations are limited to 256 KiB in total).
const MaxAckBytes = 256 << 10

// ErrInvalidAck wraps every Ack decoding and validation error.
var ErrInvalidAck = errors.New("invalid Ack")

var ackKey = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// DecodeAck reads exactly one JSON stream.Ack, rejecting unknown fields, trailing data and keys
// that are not "namespace/name". The keys come back sorted and without duplicates.
func DecodeAck(r io.Reader) (stream.Ack, error) {
	var ack stream.Ack
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ack); err != nil {
		return stream.Ack{}, fmt.Errorf("%w: %v; expected a JSON object like %s", ErrInvalidAck, err, `{"version":3,"services":["shop/orders"]}`)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return stream.Ack{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidAck)
	}
	for _, k := range ack.Services {
		if len(k) > 127 || !ackKey.MatchString(k) {
			return stream.Ack{}, fmt.Errorf("%w: service key %q is not \"namespace/name\"", ErrInvalidAck, truncate(k, 80))
		}
	}
	slices.Sort(ack.Services)
	ack.Services = slices.Compact(ack.Services)
	return ack, nil
}

// serveAck handles POST /sidecar/v1/ack: 401, 405, 413, 400, then 204 once the caller pod's
// acked-services annotation says what the Ack says.
func (s *Server) serveAck(w http.ResponseWriter, r *http.Request) {
	rec := &codeRecorder{ResponseWriter: w}
	defer func() { acks.WithLabelValues(codeLabel(rec.code)).Inc() }()
	s.ack(rec, r)
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	body, ok := readBody(w, r, MaxAckBytes)
	if !ok {
		return
	}
	ack, err := DecodeAck(bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.recordAck(r, caller, ack); err != nil {
		s.log.Error(err, "recording an ack", "caller", caller.Key(), "version", ack.Version)
		writeRetryAfter(w, http.StatusServiceUnavailable, 1, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// recordAck patches the caller's pod annotation when it differs from the Ack.
func (s *Server) recordAck(r *http.Request, caller auth.Caller, ack stream.Ack) error {
	want := strings.Join(ack.Services, ",")
	pod := &corev1.Pod{}
	if err := s.opts.Client.Get(r.Context(), types.NamespacedName{Namespace: caller.Namespace, Name: caller.PodName}, pod); err != nil {
		return fmt.Errorf("reading pod %s: %w", caller.Key(), err)
	}
	if current, ok := pod.Annotations[names.AnnotationAckedServices]; ok && current == want {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":         caller.PodUID, // the patch fails rather than annotate a pod recreated with the name
		"annotations": map[string]string{names.AnnotationAckedServices: want},
	}})
	if err != nil {
		return fmt.Errorf("encoding pod patch: %w", err)
	}
	target := &corev1.Pod{}
	target.Namespace, target.Name = caller.Namespace, caller.PodName
	if err := s.opts.Writer.Patch(r.Context(), target, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("annotating pod %s with its acked services: %w", caller.Key(), err)
	}
	ackPatches.Inc()
	s.log.V(1).Info("sidecar acked services", "caller", caller.Key(), "version", ack.Version, "services", len(ack.Services))
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
