package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// timing is one row of the table the demo ends with.
type timing struct {
	label   string
	seconds float64
}

// timings collects rows; as a flag.Value it reads LABEL=SECONDS (the shell's rows).
type timings []timing

func (t *timings) String() string { return fmt.Sprint(len(*t), " timings") }

func (t *timings) Set(v string) error {
	i := strings.LastIndex(v, "=")
	if i <= 0 {
		return fmt.Errorf("want LABEL=SECONDS, got %q", v)
	}
	s, err := strconv.ParseFloat(v[i+1:], 64)
	if err != nil {
		return fmt.Errorf("want LABEL=SECONDS, got %q: %w", v, err)
	}
	*t = append(*t, timing{label: v[:i], seconds: s})
	return nil
}

// write prints the table: the labels padded to the longest (at least 66 characters), seconds
// with milliseconds.
func (t timings) write(w io.Writer) {
	width := 66
	for _, r := range t {
		width = max(width, len(r.label))
	}
	for _, r := range t {
		fmt.Fprintf(w, "  %-*s %8.3fs\n", width, r.label, r.seconds)
	}
}

// say starts a step, in bold.
func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "\n\033[1m== %s\033[0m\n", fmt.Sprintf(format, args...))
}

// logf prints one line, with the time of day like the cluster scripts.
func (d *demo) logf(format string, args ...any) {
	fmt.Fprintf(d.w, "%s demo: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// detail prints indented lines (what a step shows: containers, slices, answers).
func (d *demo) detail(format string, args ...any) {
	for _, l := range strings.Split(strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "\n") {
		fmt.Fprintf(d.w, "    %s\n", l)
	}
}

// record adds a row and prints it.
func (d *demo) record(label string, took time.Duration) {
	d.timings = append(d.timings, timing{label: label, seconds: took.Seconds()})
	d.logf("%s: %.3fs", label, took.Seconds())
}

func (d *demo) since(label string, start time.Time) { d.record(label, time.Since(start)) }

func (d *demo) report() {
	d.say("timings")
	d.timings.write(d.w)
}
