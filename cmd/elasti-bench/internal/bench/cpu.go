package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// cpuTimes is the first line of /proc/stat: jiffies spent by all CPUs, total and idle (idle plus
// iowait).
type cpuTimes struct{ total, idle uint64 }

func readCPUTimes() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseCPUTimes(string(b))
}

func parseCPUTimes(stat string) (cpuTimes, error) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("unexpected /proc/stat first line %q", line)
	}
	var t cpuTimes
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat field %d: %w", i+1, err)
		}
		// user nice system idle iowait irq softirq steal guest guest_nice: guest time is
		// already counted in user and nice.
		if i >= 8 {
			break
		}
		t.total += v
		if i == 3 || i == 4 {
			t.idle += v
		}
	}
	return t, nil
}

// busyPercent is the share of CPU time not idle between two readings, or 0 when unknown.
func busyPercent(from, to cpuTimes) float64 {
	if to.total <= from.total {
		return 0
	}
	total := float64(to.total - from.total)
	return round3(100 * (total - float64(to.idle-from.idle)) / total)
}
