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
// (envtest's kube-apiserver and etcd, a Prometheus), by command name, and by the whole machine.
type cpuSample struct {
	procs map[string]time.Duration
	// busy and all: the machine's non-idle and total CPU time (/proc/stat), every process's.
	busy, all time.Duration
}

// sampleCPU reads /proc; on a system without it the sample is empty and the figures say so.
func sampleCPU() cpuSample {
	s := cpuSample{procs: map[string]time.Duration{}}
	self := os.Getpid()
	if d, _, ok := procCPU("self"); ok {
		s.procs["test process"] = d
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
		s.procs[strings.TrimSpace(string(comm))] += d
	}
	s.busy, s.all = machineCPU()
	return s
}

// machineCPU reads the first line of /proc/stat: the busy (not idle, not iowait) and total CPU
// time of every core since boot.
func machineCPU() (busy, all time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0
	}
	var total, idle int
	for i, v := range f[1:] {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, 0
		}
		if i >= 8 { // guest time is already counted in user time
			break
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return time.Duration(total-idle) * clockTick, time.Duration(total) * clockTick
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

// cpuUse is the CPU each process used between two samples, over a wall time, and the share of
// the machine's CPU that every process on it (these and any other) kept busy meanwhile.
type cpuUse struct {
	wall        time.Duration
	used        map[string]time.Duration
	machineBusy float64 // percent; 0 when not measured
}

func cpuSince(before cpuSample, wall time.Duration) cpuUse {
	after := sampleCPU()
	u := cpuUse{wall: wall, used: map[string]time.Duration{}}
	for name, d := range after.procs {
		u.used[name] = d - before.procs[name]
	}
	if all := after.all - before.all; all > 0 {
		u.machineBusy = 100 * (after.busy - before.busy).Seconds() / all.Seconds()
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

// boundText says what the shares mean for a time that missed its target.
func (u cpuUse) boundText() string {
	switch {
	case len(u.used) == 0:
		return "whether the CPU bound it is not known here"
	case u.machineBusy >= 85 && u.share() < 70:
		return fmt.Sprintf("the machine was %.0f%% busy, mostly with other work: run it again on a quiet machine", u.machineBusy)
	case u.machineBusy >= 85 || u.share() >= 85:
		return fmt.Sprintf("the CPU was the bound (the machine %.0f%% busy; every write costs CPU in all three on the same cores); on a cluster whose API server and etcd have cores of their own the same work takes less", u.machineBusy)
	default:
		return fmt.Sprintf("the CPU was not the bound (the machine %.0f%% busy): the time went to waiting (the API server's latency per write, the work queue)", u.machineBusy)
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
	return fmt.Sprintf("%s; together %.0f%% of %d cores (the machine %.0f%% busy)", strings.Join(parts, ", "), u.share(), runtime.NumCPU(), u.machineBusy)
}
