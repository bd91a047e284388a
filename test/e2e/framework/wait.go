package framework

import (
	"context"
	"fmt"
	"time"
)

// Check is polled by Poll: done says the wait is over, state describes what was seen (printed
// when the wait times out), and a non-nil err is remembered but does not end the wait (the API
// server may be restarting).
type Check func(ctx context.Context) (done bool, state string, err error)

// Poll calls check every interval until it reports done, ctx ends or timeout passes. The error
// names what was waited for, how long, and the last state and error seen.
func Poll(ctx context.Context, timeout, interval time.Duration, what string, check Check) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var state string
	var lastErr error
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	for {
		done, s, err := check(ctx)
		if s != "" {
			state = s
		}
		if err != nil {
			lastErr = err
		}
		if done && err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s; last seen: %s; last error: %v",
				time.Since(start).Round(time.Millisecond), what, orNone(state), lastErr)
		case <-tick.C:
		}
	}
}

// Never polls check for the whole duration and fails as soon as it reports true ("the bad thing
// happened"); state says what was seen.
func Never(ctx context.Context, duration, interval time.Duration, what string, bad Check) error {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	checked, lastErr := false, error(nil)
	for {
		happened, state, err := bad(ctx)
		if err == nil && happened {
			return fmt.Errorf("%s after %s: %s", what, time.Since(start).Round(time.Millisecond), state)
		}
		if err == nil {
			checked = true
		} else if ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if !checked {
				return fmt.Errorf("could not check that %s never happened: %w", what, lastErr)
			}
			return nil
		case <-tick.C:
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(nothing)"
	}
	return s
}
