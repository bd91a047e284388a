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

	"k8s.io/apimachinery/pkg/types"

	ackstore "github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// MaxAckBytes bounds an Ack body: 2000 keys of the longest form fit.
const MaxAckBytes = 256 << 10

// ErrInvalidAck wraps every Ack decoding and validation error.
var ErrInvalidAck = errors.New("invalid Ack")

var ackKey = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// DecodeAck reads exactly one JSON stream.Ack, full or a change, rejecting unknown fields,
// trailing data, an Ack that is both or neither, and keys that are not "namespace/name". The keys
// come back sorted and without duplicates.
func DecodeAck(r io.Reader) (stream.Ack, error) {
	var ack stream.Ack
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ack); err != nil {
		return stream.Ack{}, fmt.Errorf("%w: %v; expected a JSON object like %s or %s", ErrInvalidAck, err,
			`{"version":3,"services":["shop/orders"]}`, `{"version":4,"change":{"added":["shop/cart"],"removed":["shop/orders"]}}`)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return stream.Ack{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidAck)
	}
	switch {
	case ack.Full() && ack.Change != nil:
		return stream.Ack{}, fmt.Errorf("%w: both services (a full Ack) and change (a change Ack)", ErrInvalidAck)
	case !ack.Full() && ack.Change == nil:
		return stream.Ack{}, fmt.Errorf("%w: neither services (a full Ack) nor change (a change Ack)", ErrInvalidAck)
	}
	var err error
	if ack.Full() {
		ack.Services, err = ackKeys(ack.Services)
		return ack, err
	}
	if ack.Change.Added, err = ackKeys(ack.Change.Added); err != nil {
		return stream.Ack{}, err
	}
	if ack.Change.Removed, err = ackKeys(ack.Change.Removed); err != nil {
		return stream.Ack{}, err
	}
	return ack, nil
}

// ackKeys validates keys and returns them sorted, without duplicates (never nil).
func ackKeys(keys []string) ([]string, error) {
	for _, k := range keys {
		if _, ok := ackstore.AnnotationKey(k); !ok || !ackKey.MatchString(k) {
			return nil, fmt.Errorf("%w: service key %q is not \"namespace/name\"", ErrInvalidAck, truncate(k, 80))
		}
	}
	out := slices.Clone(keys)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// serveAck handles POST /sidecar/v1/ack: 401, 405, 413, 400, then 204 once the caller's
// acknowledgement Lease says what the Ack says.
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

// recordAck makes the caller's acknowledgement Lease (package acks) list what a full Ack lists,
// or applies a change Ack to it. Only the services that changed are written, and nothing when
// none did.
func (s *Server) recordAck(r *http.Request, caller auth.Caller, ack stream.Ack) error {
	sc := ackstore.Sidecar{Namespace: caller.Namespace, Name: caller.PodName, UID: types.UID(caller.PodUID)}
	var (
		changed int
		err     error
	)
	if ack.Full() {
		changed, err = s.opts.Acks.Record(r.Context(), sc, ack.Services)
	} else {
		changed, err = s.opts.Acks.Change(r.Context(), sc, ack.Change.Added, ack.Change.Removed)
	}
	if err != nil {
		return err
	}
	if changed > 0 {
		ackPatches.Inc()
		kv := []any{"caller", caller.Key(), "version", ack.Version, "changed", changed}
		if ack.Full() {
			kv = append(kv, "services", len(ack.Services))
		} else {
			kv = append(kv, "added", len(ack.Change.Added), "removed", len(ack.Change.Removed))
		}
		s.log.V(1).Info("sidecar acked services", kv...)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
