package streamclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/elasti-dev/elasti/pkg/stream"
)

// session is the state of one connection.
type session struct {
	c       *Client
	synced  bool
	version uint64
	// pending is the full Ack that could not be delivered; it is retried on the next heartbeat.
	pending *stream.Ack
	// acked is what the operator has from this connection, once delivered: later Acks on the
	// connection send only what changed. The first Ack of a connection, and the one after a
	// failure (the operator may or may not have applied it), are full.
	acked     []string
	delivered bool
}

// handle decodes and applies one line.
func (s *session) handle(ctx context.Context, line []byte) error {
	var msg stream.Message
	if err := json.Unmarshal(line, &msg); err != nil {
		return fmt.Errorf("decoding operator stream message: %w", err)
	}
	switch {
	case !s.synced && msg.Type != stream.TypeSnapshot:
		return fmt.Errorf("operator stream began with a %q message; expected %q", msg.Type, stream.TypeSnapshot)
	case msg.Type == stream.TypeHeartbeat:
		if s.pending != nil {
			s.ack(ctx, s.pending.Version, s.pending.Services)
		} else if s.c.o.Recheck != nil {
			if keys := s.c.o.Recheck(); !slices.Equal(keys, s.acked) {
				s.ack(ctx, s.version, keys)
			}
		}
		return nil
	case msg.Version <= s.version && s.synced:
		return fmt.Errorf("operator stream version went from %d to %d; expected it to increase", s.version, msg.Version)
	}
	keys, err := s.c.o.Apply(msg)
	if err != nil {
		return fmt.Errorf("applying operator stream message %d: %w", msg.Version, err)
	}
	s.synced, s.version = true, msg.Version
	if s.c.o.OnApplied != nil {
		s.c.o.OnApplied(msg.Version, keys)
	}
	s.c.log.V(1).Info("applied operator stream message", "type", msg.Type, "version", msg.Version, "services", len(keys))
	s.ack(ctx, msg.Version, keys)
	return nil
}

// ack tells the operator that keys (sorted) are acknowledged as of version: what changed since
// the last delivered Ack of this connection, or all of them. A failure is logged and remembered
// so the next heartbeat retries it, in full.
func (s *session) ack(ctx context.Context, version uint64, keys []string) {
	if keys == nil {
		keys = []string{}
	}
	full := stream.Ack{Version: version, Services: keys}
	ack := full
	if s.delivered && !s.c.fullAcks.Load() {
		ack = stream.Ack{Version: version, Change: changeOf(s.acked, keys)}
	}
	err := s.c.postAck(ctx, ack)
	if errors.Is(err, errAckRefused) && !ack.Full() {
		// An operator older than change Acks refuses them (400): full Acks from now on.
		s.c.log.Info("the operator refused a change Ack; sending full Acks from now on", "reason", err.Error())
		s.c.fullAcks.Store(true)
		ack = full
		err = s.c.postAck(ctx, ack)
	}
	if err != nil {
		s.c.log.Error(err, "acknowledging operator stream message", "version", version)
		s.pending, s.delivered = &full, false
		return
	}
	s.pending, s.acked, s.delivered = nil, keys, true
}

// changeOf is what turns the key set from into to (both sorted).
func changeOf(from, to []string) *stream.AckChange {
	c := &stream.AckChange{}
	i, j := 0, 0
	for i < len(from) || j < len(to) {
		switch {
		case j == len(to) || (i < len(from) && from[i] < to[j]):
			c.Removed = append(c.Removed, from[i])
			i++
		case i == len(from) || to[j] < from[i]:
			c.Added = append(c.Added, to[j])
			j++
		default:
			i++
			j++
		}
	}
	return c
}

// errAckRefused: the operator answered an Ack 400 (it does not understand it).
var errAckRefused = errors.New("operator refused the ack")

func (c *Client) postAck(ctx context.Context, ack stream.Ack) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.AckTimeout)
	defer cancel()
	body, err := json.Marshal(ack)
	if err != nil {
		return fmt.Errorf("encoding ack: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.o.URL+stream.AckPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building ack: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.o.Authorize(req); err != nil {
		return err
	}
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("posting ack: %w", err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	c.ackBytes.Add(int64(len(body)))
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w: %s: %s", errAckRefused, resp.Status, strings.TrimSpace(string(msg)))
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("operator answered ack with %s", resp.Status)
	}
	return nil
}
