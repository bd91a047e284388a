package streamclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/elasti-dev/elasti/pkg/stream"
)

// session is the state of one connection.
type session struct {
	c       *Client
	synced  bool
	version uint64
	// pending is the ack that could not be delivered; it is retried on the next heartbeat.
	pending *stream.Ack
	// acked is the last ack delivered.
	acked stream.Ack
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
			s.ack(ctx, *s.pending)
		} else if s.c.o.Recheck != nil {
			if keys := s.c.o.Recheck(); !slices.Equal(keys, s.acked.Services) {
				s.ack(ctx, stream.Ack{Version: s.version, Services: keys})
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
	s.ack(ctx, stream.Ack{Version: msg.Version, Services: keys})
	return nil
}

// ack POSTs an Ack; a failure is logged and remembered so the next heartbeat retries it.
func (s *session) ack(ctx context.Context, ack stream.Ack) {
	if ack.Services == nil {
		ack.Services = []string{}
	}
	if err := s.c.postAck(ctx, ack); err != nil {
		s.c.log.Error(err, "acknowledging operator stream message", "version", ack.Version)
		s.pending = &ack
		return
	}
	s.pending, s.acked = nil, ack
}

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
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("operator answered ack with %s", resp.Status)
	}
	return nil
}
