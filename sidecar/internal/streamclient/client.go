package streamclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/elasti-dev/elasti/pkg/stream"
)

// Options configure a Client. Zero durations take the documented defaults.
type Options struct {
	// URL is the operator's base URL.
	URL string
	// HTTPClient carries the TLS configuration; it must have no overall Timeout (the stream
	// never ends).
	HTTPClient *http.Client
	// Authorize adds the bearer token (re-read on every connect and ack).
	Authorize func(*http.Request) error
	// Apply applies a message and returns the sorted keys to acknowledge afterwards.
	Apply func(stream.Message) ([]string, error)
	// Recheck (may be nil) is called on every heartbeat and returns the sorted keys to
	// acknowledge now; when they differ from the last acknowledged ones (a sidecar port that
	// could not be opened before is open now), they are acknowledged again with the same version.
	Recheck func() []string
	// HeartbeatTimeout drops a silent stream (default 3 × stream.HeartbeatInterval).
	HeartbeatTimeout time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 100ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	// AckTimeout bounds one Ack POST (default 5s).
	AckTimeout time.Duration
	// MaxMessageBytes bounds one line of the stream (default 64 MiB).
	MaxMessageBytes int
	// OnState (may be nil) is told when the stream connects and disconnects.
	OnState func(connected, reconnect bool)
	// OnApplied (may be nil) is told the version and keys after every applied message.
	OnApplied func(version uint64, keys []string)
}

// Client is the stream client.
type Client struct {
	o   Options
	log logr.Logger
	// instance identifies this process to the operator (stream.InstanceHeader).
	instance string
	// fullAcks: the operator refused a change Ack (it predates them); every Ack is full.
	fullAcks atomic.Bool
	// ackBytes counts the Ack bodies posted (AckBytes).
	ackBytes atomic.Int64
}

// AckBytes is how many bytes of Ack bodies the client has posted.
func (c *Client) AckBytes() int64 { return c.ackBytes.Load() }

// New returns a client with defaults filled in.
func New(log logr.Logger, o Options) *Client {
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 3 * stream.HeartbeatInterval
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(10*time.Second, o.MinBackoff)
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 5 * time.Second
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 64 << 20
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	return &Client{o: o, log: log, instance: fmt.Sprintf("%016x", rand.Uint64())}
}

// Run connects and reconnects until ctx is done.
func (c *Client) Run(ctx context.Context) {
	backoff := c.o.MinBackoff
	for attempt := 0; ; attempt++ {
		synced, err := c.session(ctx, attempt > 0)
		if ctx.Err() != nil {
			return
		}
		if synced {
			backoff = c.o.MinBackoff
		}
		delay := jitter(backoff)
		c.log.Error(err, "operator stream lost; reconnecting", "in", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		backoff = min(2*backoff, c.o.MaxBackoff)
	}
}

// jitter spreads d over [d/2, d) so that sidecars restarted together do not reconnect together.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// session runs one connection; synced reports whether it applied a snapshot.
func (c *Client) session(ctx context.Context, reconnect bool) (synced bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, err := c.connect(ctx)
	if err != nil {
		return false, err
	}
	defer body.Close()
	if c.o.OnState != nil {
		c.o.OnState(true, reconnect)
		defer c.o.OnState(false, false)
	}
	watchdog := time.AfterFunc(c.o.HeartbeatTimeout, cancel)
	defer watchdog.Stop()
	r := bufio.NewReaderSize(body, 64<<10)
	s := &session{c: c}
	for {
		line, err := readLine(r, c.o.MaxMessageBytes)
		if err != nil {
			if ctx.Err() != nil && !watchdog.Stop() {
				err = fmt.Errorf("no message for %s (heartbeat timeout)", c.o.HeartbeatTimeout)
			}
			return s.synced, fmt.Errorf("reading operator stream: %w", err)
		}
		watchdog.Reset(c.o.HeartbeatTimeout)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := s.handle(ctx, line); err != nil {
			return s.synced, err
		}
	}
}

func (c *Client) connect(ctx context.Context) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.o.URL+stream.StreamPath, nil)
	if err != nil {
		return nil, fmt.Errorf("building stream request: %w", err)
	}
	req.Header.Set("Accept", stream.ContentType)
	req.Header.Set(stream.InstanceHeader, c.instance)
	if err := c.o.Authorize(req); err != nil {
		return nil, err
	}
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("connecting to the operator stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("operator stream answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp.Body, nil
}

// readLine reads one '\n'-terminated line of at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > limit {
			return nil, fmt.Errorf("message larger than %d bytes", limit)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}
