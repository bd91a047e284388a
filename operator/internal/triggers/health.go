package triggers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// checkHealthy is the uptimeFilter check. A Prometheus that has just started has no history:
// a rate over the last 5 minutes is 0 because there are no samples, not because there was no
// traffic. So before a trigger may say idle:
//
//  1. up{<filter>} must return at least one series and every one must be 1 (the Prometheus
//     job that the filter names is being scraped and answers);
//  2. time() - process_start_time_seconds{<filter>} (how long that Prometheus process has been
//     running, from its own metric, on its own clock) must be at least the cooldown. When that
//     series does not exist (the filter names a job that does not export it) this step is
//     skipped: step 1 is then the only guard, as in KubeElasti.
//
// Both are cheap instant queries against the same server, with the trigger's headers.
func (q querier) checkHealthy(ctx context.Context, filter string, cooldown time.Duration) error {
	up, err := q.query(ctx, "up{"+filter+"}")
	if errors.Is(err, errNoSamples) {
		return fmt.Errorf("uptimeFilter: up{%s} has no series; Prometheus is not scraping what the filter names", filter)
	}
	if err != nil {
		return fmt.Errorf("uptimeFilter: %w", err)
	}
	for _, v := range up {
		if v != 1 {
			return fmt.Errorf("uptimeFilter: up{%s} is %v, expected 1", filter, v)
		}
	}
	age, err := q.query(ctx, "time() - process_start_time_seconds{"+filter+"}")
	if errors.Is(err, errNoSamples) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("uptimeFilter: %w", err)
	}
	youngest := math.Inf(1)
	for _, v := range age {
		youngest = math.Min(youngest, v)
	}
	if math.IsNaN(youngest) || youngest < cooldown.Seconds() {
		return fmt.Errorf("uptimeFilter: Prometheus has been up for %.0fs, less than the cooldown of %s; its data is not yet trusted", youngest, cooldown)
	}
	return nil
}
