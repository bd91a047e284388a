//go:build integration

package controller

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ: 100 on every Linux
// architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time used so far by this test process and by each of its child processes
// (envtest's kube-apiserver and etcd, a Prometheus), by command name.
type cpuSample map[string]time.Duration

// sampleCPU reads /proc; on a system without it the sample is empty and the figures say so.
func sampleCPU() cpuSample {
	s := cpuSample{}
	self := os.Getpid()
	if d, _, ok := procCPU("self"); ok {
		s["test process"] = d
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		d, ppid, ok := procCPU(filepath.Base(dir))
		if !ok || ppid != self {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil {
			continue
		}
		s[strings.TrimSpace(string(comm))] += d
	}
	return s
}

// procCPU returns utime+stime and the parent pid of /proc/<pid>.
func procCPU(pid string) (time.Duration, int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])   // field 4
	utime, err2 := strconv.Atoi(f[11]) // field 14
	stime, err3 := strconv.Atoi(f[12]) // field 15
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return time.Duration(utime+stime) * clockTick, ppid, true
}

// cpuUse is the CPU each process used between two samples, over a wall time.
type cpuUse struct {
	wall time.Duration
	used map[string]time.Duration
}

func cpuSince(before cpuSample, wall time.Duration) cpuUse {
	after := sampleCPU()
	u := cpuUse{wall: wall, used: map[string]time.Duration{}}
	for name, d := range after {
		u.used[name] = d - before[name]
	}
	return u
}

// share is the percentage of the machine's CPU (cores × wall) the processes used together.
func (u cpuUse) share() float64 {
	var total time.Duration
	for _, d := range u.used {
		total += d
	}
	avail := time.Duration(runtime.NumCPU()) * u.wall
	if avail <= 0 {
		return 0
	}
	return 100 * total.Seconds() / avail.Seconds()
}

func (u cpuUse) shareText() string {
	if len(u.used) == 0 {
		return "an unmeasured share (no /proc)"
	}
	return fmt.Sprintf("%.0f%%", u.share())
}

// boundText says what the share means for a time that missed its target.
func (u cpuUse) boundText() string {
	switch {
	case len(u.used) == 0:
		return "whether the CPU bound it is not known here"
	case u.share() >= 85:
		return "the CPU was the bound (every write costs CPU in all three on the same cores); on a cluster whose API server and etcd have cores of their own the same work takes less"
	default:
		return "the CPU was not the bound: the time went to waiting (the API server's latency per write, the work queue)"
	}
}

// String says each process's CPU seconds, largest first, and their share of the machine's CPU
// over the wall time (cores × wall).
func (u cpuUse) String() string {
	if len(u.used) == 0 {
		return "CPU not measured (no /proc)"
	}
	names := make([]string, 0, len(u.used))
	for n := range u.used {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return u.used[names[i]] > u.used[names[j]] })
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f s", n, u.used[n].Seconds()))
	}
	return fmt.Sprintf("%s; together %.0f%% of %d cores", strings.Join(parts, ", "), u.share(), runtime.NumCPU())
}
