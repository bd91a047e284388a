package bench

import (
	"strings"
	"time"
)

// ListeningMarker is what the demo app logs once it listens (its readiness).
const ListeningMarker = `"listening"`

// FirstLineTime returns the kubelet timestamp of the first line of a log fetched with
// timestamps=true ("<RFC 3339 nano> <line>") that contains marker.
func FirstLineTime(log, marker string) (time.Time, bool) {
	for _, line := range strings.Split(log, "\n") {
		ts, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.Contains(rest, marker) {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		return t, true
	}
	return time.Time{}, false
}
