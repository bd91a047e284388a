package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/elasti-dev/elasti/sidecar/internal/metrics"
)

// heldBodyLimit is the largest HTTP/1 request body (by its Content-Length) that the sidecar
// receives in full before holding the request. Go's HTTP/1 server notices a closed connection
// (and cancels the request's context) only once the handler has read the body to its end, so a
// held request whose body is still unread keeps its slot until the hold timeout when its client
// goes away. Receiving a small body first makes the slot free the moment the client leaves,
// while the bytes stay ours to send (the connect retry still sees an untouched body). Bodies
// of unknown length (chunked) or larger ones are left unread: a client may stream them, and
// 16 KiB × --max-held (2,000) is at most 32 MiB, within the sidecar's memory budget.
const heldBodyLimit = 16 << 10

// receiveBody reads the body of an HTTP/1 request about to be held when its Content-Length is
// at most heldBodyLimit, and returns the request with that body in memory. Reading waits at most
// until the hold deadline (arrival + timeout). It answers the request itself and returns false
// when the body cannot be received (the client went away, or sent too little too slowly).
func (h *Handler) receiveBody(w http.ResponseWriter, r *http.Request, rt *route, timeout time.Duration) (*http.Request, bool) {
	if r.ProtoMajor != 1 || r.ContentLength <= 0 || r.ContentLength > heldBodyLimit {
		return r, true
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(rt.start.Add(timeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, heldBodyLimit+1))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil || int64(len(body)) != r.ContentLength {
		if r.Context().Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) {
			h.abandoned(rt)
			return nil, false
		}
		h.reject(w, r, rt, http.StatusBadRequest, metrics.ReasonBadRequest,
			fmt.Sprintf("receiving the %d-byte request body: got %d bytes: %v", r.ContentLength, len(body), err))
		return nil, false
	}
	r = r.WithContext(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r, true
}
