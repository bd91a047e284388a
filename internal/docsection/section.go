package docsection

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

const (
	beginPrefix = "<!-- begin "
	endPrefix   = "<!-- end "
)

// begin and end return the marker lines of section name; begin names who writes it.
func begin(name, writer string) string { return beginPrefix + name + ": written by " + writer + " -->" }
func end(name string) string           { return endPrefix + name + " -->" }

// span finds section name in doc: the offsets of its begin line's start and of the end of its
// end line (including the newline), or ok false when doc has no complete section of that name.
func span(doc, name string) (from, to int, ok bool) {
	from = strings.Index(doc, beginPrefix+name+": ")
	if from < 0 {
		return 0, 0, false
	}
	rel := strings.Index(doc[from:], end(name))
	if rel < 0 {
		return 0, 0, false
	}
	to = from + rel + len(end(name))
	if to < len(doc) && doc[to] == '\n' {
		to++
	}
	return from, to, true
}

// Replace returns doc with section name set to body (its markers included), written by
// writer (a command a reader can run to refresh it). A section not yet in doc is appended,
// after a blank line.
func Replace(doc, name, writer, body string) string {
	section := begin(name, writer) + "\n" + strings.TrimRight(body, "\n") + "\n" + end(name) + "\n"
	if from, to, ok := span(doc, name); ok {
		return doc[:from] + section + doc[to:]
	}
	if doc != "" {
		doc = strings.TrimRight(doc, "\n") + "\n\n"
	}
	return doc + section
}

// Sections returns every complete marked section of doc, markers included, in order: what a
// tool that rewrites the whole page must carry over.
func Sections(doc string) []string {
	var out []string
	for rest := doc; ; {
		i := strings.Index(rest, beginPrefix)
		if i < 0 {
			return out
		}
		line, _, _ := strings.Cut(rest[i+len(beginPrefix):], ":")
		from, to, ok := span(rest[i:], line)
		if !ok || from != 0 {
			rest = rest[i+len(beginPrefix):]
			continue
		}
		out = append(out, strings.TrimRight(rest[i:i+to], "\n")+"\n")
		rest = rest[i+to:]
	}
}

// Keep appends to page, a freshly generated page, the sections of old (the page it replaces)
// that page does not have itself.
func Keep(page, old string) string {
	for _, s := range Sections(old) {
		name, _, _ := strings.Cut(strings.TrimPrefix(s, beginPrefix), ":")
		if _, _, ok := span(page, name); ok {
			continue
		}
		page = strings.TrimRight(page, "\n") + "\n\n" + s
	}
	return page
}

// Provenance is the line a section's writer puts under its heading: which tool and test wrote
// it, when, at which commit (git, from the working directory), on how many cores with which Go,
// and the load average at the end (so that figures from a busy machine say so).
func Provenance(tool, test string) string {
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("Written by `%s` (`%s`) on %s, commit %s, %d cores, %s; load average %s at the end.\n\n",
		tool, test, time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.TrimSpace(string(commit)), runtime.NumCPU(), runtime.Version(), load)
}
