package sidecar

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
)

// cgroupMemoryMax is the cgroup v2 memory limit of the container.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// applyMemoryLimit sets the Go runtime's soft memory limit to 90% of the container's memory
// limit, unless GOMEMLIMIT is set. A burst of woken requests then makes the garbage collector
// work harder instead of the kernel killing the sidecar (and with it the gateway's traffic).
func applyMemoryLimit(log logr.Logger, path string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit, ok := readMemoryMax(path)
	if !ok {
		return
	}
	soft := limit / 10 * 9
	debug.SetMemoryLimit(soft)
	log.V(1).Info("soft memory limit set from the container limit", "limitBytes", limit, "softLimitBytes", soft)
}

// readMemoryMax returns the limit in bytes; false when there is none ("max") or no cgroup v2.
func readMemoryMax(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
