package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat (getconf CLK_TCK;
// 100 on every Linux architecture Go supports).
var clockTicks = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil && n > 0 {
		return float64(n)
	}
	return 100
}()

// parseStat returns utime+stime, in clock ticks, and the parent pid from the content of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may contain spaces or
// parentheses itself, so fields are counted from the last ')'.
func parseStat(stat string) (ticks uint64, ppid int, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed stat %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("malformed stat %q", stat)
	}
	ppid, err = strconv.Atoi(f[1]) // field 4
	if err != nil {
		return 0, 0, fmt.Errorf("ppid in stat: %w", err)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("malformed utime/stime in %q", stat)
	}
	return utime + stime, ppid, nil
}

// cpuOf returns the CPU time the processes have used so far (utime+stime, all threads).
func cpuOf(pids []int) (time.Duration, error) {
	var ticks uint64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		t, _, err := parseStat(string(b))
		if err != nil {
			return 0, err
		}
		ticks += t
	}
	return time.Duration(float64(ticks) / clockTicks * float64(time.Second)), nil
}

// withChildren returns pid and its child processes (nginx's master and workers).
func withChildren(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := []int{pid}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if _, ppid, err := parseStat(string(b)); err == nil && ppid == pid {
			out = append(out, child)
		}
	}
	return out, nil
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
