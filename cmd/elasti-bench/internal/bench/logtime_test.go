package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFirstLineTime(t *testing.T) {
	log := "2026-11-22T08:00:00.100000000Z {\"msg\":\"starting\"}\n" +
		"garbage\n" +
		"notatime {\"msg\":\"listening\"}\n" +
		"2026-11-22T08:00:01.234567890Z {\"level\":\"info\",\"msg\":\"listening\",\"addr\":\"[::]:8080\"}\n" +
		"2026-11-22T08:00:02.000000000Z {\"msg\":\"listening\"}\n"
	for _, tc := range []struct {
		name, log, marker string
		want              time.Time
		ok                bool
	}{
		{"first match with a valid time", log, ListeningMarker, time.Date(2026, 11, 22, 8, 0, 1, 234567890, time.UTC), true},
		{"no match", log, `"first answer"`, time.Time{}, false},
		{"empty", "", ListeningMarker, time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FirstLineTime(tc.log, tc.marker)
			assert.Equal(t, tc.ok, ok)
			assert.True(t, tc.want.Equal(got), "got %s", got)
		})
	}
}
