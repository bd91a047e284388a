package triggers

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// cronParser accepts the 5-field form (minute hour day-of-month month day-of-week) and the
// descriptors @yearly/@annually, @monthly, @weekly, @daily/@midnight and @hourly. @every is
// rejected: a window needs fixed opening times.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// InEnabledPeriod reports whether now is inside the window p describes: the window opens each
// time the schedule fires (in p's time zone, default UTC) and stays open for p.Duration of
// elapsed time (across a DST change too), so now
// is inside when some opening time t satisfies t <= now < t+duration. A nil p means always.
//
// Opening times are wall-clock times in the zone: on a day a DST change skips the scheduled time
// (e.g. 02:30 on a spring-forward day in Europe/Berlin) the window does not open that day; on a
// day the time occurs twice (fall-back) it opens at both, so that day's window lasts an hour
// longer. A window may span midnight or several days. Day-of-week 7 means Sunday, as in cron.
func InEnabledPeriod(p *v1alpha1.EnabledPeriod, now time.Time) (bool, error) {
	if p == nil {
		return true, nil
	}
	sched, dur, err := parsePeriod(p)
	if err != nil {
		return false, err
	}
	// Next returns the first opening strictly after its argument, so the first opening after
	// now-duration is the only candidate for a window containing now.
	opening := sched.Next(now.Add(-dur))
	if opening.IsZero() {
		return false, nil // the schedule never fires (e.g. "0 0 30 2 *")
	}
	return !opening.After(now), nil
}

// parsePeriod validates p and returns its schedule (in its zone) and duration.
func parsePeriod(p *v1alpha1.EnabledPeriod) (cron.Schedule, time.Duration, error) {
	spec := strings.TrimSpace(p.Schedule)
	if strings.HasPrefix(spec, "@every") || strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, 0, fmt.Errorf("enabledPeriod.schedule %q: expected 5 cron fields or @yearly, @monthly, @weekly, @daily, @hourly; use timeZone for the zone", p.Schedule)
	}
	sched, err := cronParser.Parse(normalizeSunday(spec))
	if err != nil {
		return nil, 0, fmt.Errorf("enabledPeriod.schedule %q: %w", p.Schedule, err)
	}
	loc := time.UTC
	if p.TimeZone != "" {
		if loc, err = time.LoadLocation(p.TimeZone); err != nil {
			return nil, 0, fmt.Errorf("enabledPeriod.timeZone %q: %w", p.TimeZone, err)
		}
	}
	spec2, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, 0, fmt.Errorf("enabledPeriod.schedule %q: not a fixed schedule", p.Schedule)
	}
	spec2.Location = loc
	dur, err := time.ParseDuration(p.Duration)
	if err != nil {
		return nil, 0, fmt.Errorf("enabledPeriod.duration %q: %w", p.Duration, err)
	}
	if dur <= 0 {
		return nil, 0, fmt.Errorf("enabledPeriod.duration %q must be positive", p.Duration)
	}
	return spec2, dur, nil
}

// normalizeSunday rewrites day-of-week 7 (Sunday, accepted by cron and by the CRD) to 0, which is
// what the parser knows: "7" becomes "0" and a range "x-7" becomes "x-6,0".
func normalizeSunday(spec string) string {
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return spec
	}
	parts := strings.Split(fields[4], ",")
	for i, p := range parts {
		switch {
		case p == "7":
			parts[i] = "0"
		case strings.HasSuffix(p, "-7"):
			parts[i] = strings.TrimSuffix(p, "-7") + "-6,0"
		}
	}
	fields[4] = strings.Join(parts, ",")
	return strings.Join(fields, " ")
}
