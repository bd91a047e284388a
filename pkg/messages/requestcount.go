package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// RequestCount says that Count requests for the Service Svc in Namespace reached a resolver
// sidecar while the service could not serve them. The JSON form is
// {"count": 3, "svc": "orders", "namespace": "shop", "sentAt": "2026-11-30T15:04:05.123Z"}.
type RequestCount struct {
	// Count is how many requests are waiting. 0 is an activity report: a request was just
	// forwarded to a pod that could serve it, nothing waits, and the target must not be woken.
	Count int `json:"count"`
	// Svc is the Service name.
	Svc string `json:"svc"`
	// Namespace is the Service's namespace.
	Namespace string `json:"namespace"`
	// SentAt is when the sidecar built this report, having seen Count requests waiting (RFC 3339,
	// optional: zero and absent for sidecars that predate it). A report retried or delayed past a
	// deliberate scale to zero says nothing about requests waiting now, and the elastiserver
	// ignores it when SentAt is before the ElastiService's status.lastScaledDownTime, instead of
	// waking the target again; requests that still wait are reported again with a new SentAt.
	SentAt time.Time `json:"sentAt,omitzero"`
	// Forwarded is how many requests for the service the sidecar forwarded at once (the target
	// could serve them) since its previous report for the service (optional, 0 when absent). The
	// traffic trigger sums it over sidecars and operator replicas to measure the request rate.
	Forwarded int64 `json:"forwarded,omitempty"`
}

// MaxForwarded bounds RequestCount.Forwarded: far more than one sidecar forwards between two
// reports a second apart, and small enough that sums cannot overflow.
const MaxForwarded = 1 << 40

// MaxRequestCountBytes bounds the size of an encoded RequestCount a server should read.
const MaxRequestCountBytes = 4 << 10

// ErrInvalidRequestCount wraps every decoding and validation error.
var ErrInvalidRequestCount = errors.New("invalid RequestCount")

// dns1123Label is the shape of Service and Namespace names.
var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// DecodeRequestCount reads exactly one JSON RequestCount from r and validates it. Unknown fields,
// wrong types, trailing data and invalid names are rejected with an error wrapping
// ErrInvalidRequestCount.
func DecodeRequestCount(r io.Reader) (RequestCount, error) {
	var rc RequestCount
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rc); err != nil {
		return RequestCount{}, fmt.Errorf("%w: %s; expected a JSON object like %s", ErrInvalidRequestCount, describeJSONError(err), `{"count":1,"svc":"orders","namespace":"shop"}`)
	}
	if dec.More() {
		return RequestCount{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidRequestCount)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return RequestCount{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidRequestCount)
	}
	if err := rc.Validate(); err != nil {
		return RequestCount{}, err
	}
	return rc, nil
}

// DecodeRequestCountBytes is DecodeRequestCount over a byte slice.
func DecodeRequestCountBytes(b []byte) (RequestCount, error) {
	return DecodeRequestCount(bytes.NewReader(b))
}

// Validate checks the fields of a RequestCount.
func (rc RequestCount) Validate() error {
	switch {
	case rc.Count < 0:
		return fmt.Errorf("%w: count must be 0 (activity) or more, got %d", ErrInvalidRequestCount, rc.Count)
	case rc.Forwarded < 0 || rc.Forwarded > MaxForwarded:
		return fmt.Errorf("%w: forwarded must be between 0 and %d, got %d", ErrInvalidRequestCount, int64(MaxForwarded), rc.Forwarded)
	case rc.Svc == "":
		return fmt.Errorf("%w: svc (the Service name) is required", ErrInvalidRequestCount)
	case len(rc.Svc) > 63 || !dns1123Label.MatchString(rc.Svc):
		return fmt.Errorf("%w: svc %q is not a valid Service name (lowercase letters, digits and '-', at most 63 characters)", ErrInvalidRequestCount, rc.Svc)
	case rc.Namespace == "":
		return fmt.Errorf("%w: namespace is required", ErrInvalidRequestCount)
	case len(rc.Namespace) > 63 || !dns1123Label.MatchString(rc.Namespace):
		return fmt.Errorf("%w: namespace %q is not a valid namespace name (lowercase letters, digits and '-', at most 63 characters)", ErrInvalidRequestCount, rc.Namespace)
	}
	return nil
}

// Key returns "namespace/svc".
func (rc RequestCount) Key() string { return rc.Namespace + "/" + rc.Svc }

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q must be a %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	default:
		return err.Error()
	}
}
