package triggers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

func at(t *testing.T, zone, value string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	require.NoError(t, err)
	v, err := time.ParseInLocation("2006-01-02 15:04", value, loc)
	require.NoError(t, err)
	return v
}

func TestInEnabledPeriod(t *testing.T) {
	weekdays := &v1alpha1.EnabledPeriod{Schedule: "0 9 * * 1-5", Duration: "8h"}
	night := &v1alpha1.EnabledPeriod{Schedule: "0 22 * * *", Duration: "8h", TimeZone: "Europe/Berlin"}
	springForward := &v1alpha1.EnabledPeriod{Schedule: "30 2 * * *", Duration: "1h", TimeZone: "Europe/Berlin"}
	weekend := &v1alpha1.EnabledPeriod{Schedule: "0 0 * * 6-7", Duration: "24h"}
	tests := []struct {
		name string
		p    *v1alpha1.EnabledPeriod
		now  time.Time
		want bool
	}{
		{name: "unset means always", p: nil, now: at(t, "UTC", "2026-03-02 03:00"), want: true},
		{name: "weekday inside", p: weekdays, now: at(t, "UTC", "2026-03-02 12:00"), want: true}, // Monday
		{name: "opening instant is inside", p: weekdays, now: at(t, "UTC", "2026-03-02 09:00"), want: true},
		{name: "closing instant is outside", p: weekdays, now: at(t, "UTC", "2026-03-02 17:00"), want: false},
		{name: "before opening", p: weekdays, now: at(t, "UTC", "2026-03-02 08:59"), want: false},
		{name: "saturday outside", p: weekdays, now: at(t, "UTC", "2026-03-07 12:00"), want: false},
		{name: "now given in another zone", p: weekdays, now: at(t, "Asia/Tokyo", "2026-03-02 20:00"), want: true}, // 11:00 UTC
		{name: "spans midnight: before midnight", p: night, now: at(t, "Europe/Berlin", "2026-01-10 23:30"), want: true},
		{name: "spans midnight: after midnight", p: night, now: at(t, "Europe/Berlin", "2026-01-11 05:59"), want: true},
		{name: "spans midnight: closed at 06:00 Berlin", p: night, now: at(t, "Europe/Berlin", "2026-01-11 06:00"), want: false},
		{name: "zone applies: 22:00 UTC is 23:00 Berlin, inside", p: night, now: at(t, "UTC", "2026-01-10 22:00"), want: true},
		{name: "zone applies: 21:30 UTC is 22:30 Berlin, inside", p: night, now: at(t, "UTC", "2026-01-10 21:30"), want: true},
		{name: "zone applies: 20:30 UTC is 21:30 Berlin, outside", p: night, now: at(t, "UTC", "2026-01-10 20:30"), want: false},
		{name: "summer time: 22:00 Berlin is 20:00 UTC", p: night, now: at(t, "UTC", "2026-07-10 20:00"), want: true},
		{name: "summer time: 19:59 UTC is 21:59 Berlin, outside", p: night, now: at(t, "UTC", "2026-07-10 19:59"), want: false},
		// Duration is elapsed time: 22:00 CET + 8h is 07:00 CEST (05:00 UTC) on a spring-forward night.
		{name: "DST change inside the window: 06:30 CEST still inside", p: night, now: at(t, "UTC", "2026-03-29 04:30"), want: true},
		{name: "DST change inside the window: closes after 8 real hours", p: night, now: at(t, "UTC", "2026-03-29 05:00"), want: false},
		{name: "skipped wall time does not open the window", p: springForward, now: at(t, "UTC", "2026-03-29 01:45"), want: false}, // 03:45 CEST
		{name: "the day after opens again", p: springForward, now: at(t, "Europe/Berlin", "2026-03-30 02:45"), want: true},
		{name: "sunday as 7 in a range", p: weekend, now: at(t, "UTC", "2026-03-08 12:00"), want: true}, // Sunday
		{name: "sunday as 7: friday outside", p: weekend, now: at(t, "UTC", "2026-03-06 12:00"), want: false},
		{name: "descriptor @daily", p: &v1alpha1.EnabledPeriod{Schedule: "@daily", Duration: "1h"}, now: at(t, "UTC", "2026-03-06 00:30"), want: true},
		{name: "descriptor @daily outside", p: &v1alpha1.EnabledPeriod{Schedule: "@daily", Duration: "1h"}, now: at(t, "UTC", "2026-03-06 01:30"), want: false},
		{name: "window longer than the period", p: &v1alpha1.EnabledPeriod{Schedule: "@hourly", Duration: "3h"}, now: at(t, "UTC", "2026-03-06 01:59"), want: true},
		{name: "never-firing schedule", p: &v1alpha1.EnabledPeriod{Schedule: "0 0 30 2 *", Duration: "1h"}, now: at(t, "UTC", "2026-03-06 01:30"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := InEnabledPeriod(tt.p, tt.now)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestInEnabledPeriodFallBack(t *testing.T) {
	// 2026-10-25 02:00-03:00 happens twice in Berlin; a window opening at 02:30 for 30m opens at
	// both 02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC).
	p := &v1alpha1.EnabledPeriod{Schedule: "30 2 * * *", Duration: "30m", TimeZone: "Europe/Berlin"}
	for _, tc := range []struct {
		utc  string
		want bool
	}{{"2026-10-25 00:45", true}, {"2026-10-25 01:15", false}, {"2026-10-25 01:45", true}, {"2026-10-25 02:15", false}} {
		got, err := InEnabledPeriod(p, at(t, "UTC", tc.utc))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.utc)
	}
}

func TestInEnabledPeriodErrors(t *testing.T) {
	tests := []struct {
		name, schedule, duration, zone, wantErr string
	}{
		{name: "six fields", schedule: "0 0 9 * * 1", duration: "1h", wantErr: "expected exactly 5 fields"},
		{name: "@every", schedule: "@every 1h", duration: "1h", wantErr: "expected 5 cron fields"},
		{name: "TZ prefix", schedule: "CRON_TZ=UTC 0 9 * * *", duration: "1h", wantErr: "use timeZone"},
		{name: "bad minute", schedule: "61 9 * * *", duration: "1h", wantErr: "schedule"},
		{name: "bad zone", schedule: "0 9 * * *", duration: "1h", zone: "Mars/Olympus", wantErr: "timeZone \"Mars/Olympus\""},
		{name: "bad duration", schedule: "0 9 * * *", duration: "8 hours", wantErr: "duration \"8 hours\""},
		{name: "zero duration", schedule: "0 9 * * *", duration: "0s", wantErr: "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := InEnabledPeriod(&v1alpha1.EnabledPeriod{Schedule: tt.schedule, Duration: tt.duration, TimeZone: tt.zone}, time.Now())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
