package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// skipPrefix is framework.SkipPrefix: every skip message of the suite starts with it
// (TestSkipPrefixIsTheFrameworks keeps the two equal).
const skipPrefix = "SKIP: "

// Results of a test, as `go test -v` prints them.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Skip = "SKIP"
)

// Outcome is one test's (or subtest's) result line, with the reason of a skip.
type Outcome struct {
	Name    string
	Result  string
	Seconds float64
	// Reason is the text after SKIP: in the test's output ("" when it skipped another way).
	Reason string
	// Said is what a failed test logged last (its failure, as a rule): the last maxSaid
	// "file_test.go:N: text" lines of its output, each cut to maxSaidLen, oldest first. The
	// problems list (the end of the log, which is what a CI tail shows) names the failure with it.
	Said []string
}

const (
	maxSaid    = 2
	maxSaidLen = 300
)

// TopLevel says whether the outcome is a scenario (not a subtest).
func (o Outcome) TopLevel() bool { return !strings.Contains(o.Name, "/") }

var (
	resultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)`)
	// The test whose output follows: chatty (-v) output names it before it logs.
	currentLine = regexp.MustCompile(`^=== (?:RUN|CONT|NAME)\s+(\S+)`)
	topLevelDef = regexp.MustCompile(`^Test[A-Za-z0-9_]*$`)
	// A t.Log/t.Error line with text on it (a dump logs an empty first line and its text below).
	saidLine = regexp.MustCompile(`^\s+[A-Za-z0-9_]+\.go:[0-9]+: (\S.*)$`)
)

// ParseLog reads a `go test -v` log and returns every result line in order, each skip with its
// reason. A reason is attributed to the test whose output it is in: with -v, the one named by the
// last "=== RUN/CONT/NAME" line, or the one whose result line it follows.
func ParseLog(r io.Reader) ([]Outcome, error) {
	var out []Outcome
	reasons := map[string]string{}
	said := map[string][]string{}
	current := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := resultLine.FindStringSubmatch(line); m != nil {
			secs, _ := strconv.ParseFloat(m[3], 64)
			out = append(out, Outcome{Name: m[2], Result: m[1], Seconds: secs})
			current = m[2]
			continue
		}
		if m := currentLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if _, reason, ok := strings.Cut(line, skipPrefix); ok && current != "" {
			reasons[current] = strings.TrimSpace(reason)
		}
		if m := saidLine.FindStringSubmatch(line); m != nil && current != "" {
			text := m[1]
			if len(text) > maxSaidLen {
				text = text[:maxSaidLen] + "…"
			}
			said[current] = append(said[current], text)
			if len(said[current]) > maxSaid {
				said[current] = said[current][1:]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the log: %w", err)
	}
	for i := range out {
		switch out[i].Result {
		case Skip:
			out[i].Reason = reasons[out[i].Name]
		case Fail:
			out[i].Said = said[out[i].Name]
		}
	}
	return out, nil
}

// ParseDefined reads `go test -list` output: the scenarios the suite defines, one per line
// (other lines, such as the package's "ok", are ignored).
func ParseDefined(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); topLevelDef.MatchString(line) {
			names = append(names, line)
		}
	}
	return names, sc.Err()
}

// ParseAllow reads an allow-list: lines "<test name> <why this skip is allowed in CI>"; blank
// lines and lines starting with # are comments. Every entry must give its reason.
func ParseAllow(r io.Reader) (map[string]string, error) {
	allow := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, why, _ := strings.Cut(line, " ")
		why = strings.TrimSpace(why)
		switch {
		case why == "":
			return nil, fmt.Errorf("line %d: %q gives no reason why its skip is allowed", n, name)
		case allow[name] != "":
			return nil, fmt.Errorf("line %d: %s is listed twice", n, name)
		}
		allow[name] = why
	}
	return allow, sc.Err()
}

// Judge says what is wrong with a run: a failure, a skip not on the allow-list, a scenario the
// suite defines without a result (the run crashed or stopped), a result for a scenario it does
// not define, and fewer passes than the scenarios defined minus the allowed skips. No problems
// means every defined scenario ran and passed, or skipped for an allowed reason.
func Judge(outcomes []Outcome, defined []string, allow map[string]string) []string {
	var problems []string
	if len(defined) == 0 {
		problems = append(problems, "the suite defines no scenario (go test -list found none)")
	}
	seen := map[string]bool{}
	passed, allowedSkips := 0, 0
	for _, o := range outcomes {
		switch o.Result {
		case Fail:
			problem := o.Name + " failed"
			if len(o.Said) > 0 {
				problem += ", its last words: " + strings.Join(o.Said, " | ")
			}
			problems = append(problems, problem)
		case Skip:
			if _, ok := allow[o.Name]; !ok {
				problems = append(problems, fmt.Sprintf("%s skipped, and it is not on the allow-list: %s", o.Name, reasonOrNone(o.Reason)))
			} else if o.TopLevel() {
				allowedSkips++
			}
		case Pass:
			if o.TopLevel() {
				passed++
			}
		}
		if !o.TopLevel() {
			continue
		}
		if seen[o.Name] {
			problems = append(problems, fmt.Sprintf("%s has more than one result", o.Name))
		}
		seen[o.Name] = true
		if !slices.Contains(defined, o.Name) {
			problems = append(problems, fmt.Sprintf("%s has a result but is not among the scenarios the suite defines", o.Name))
		}
	}
	for _, name := range defined {
		if !seen[name] {
			problems = append(problems, fmt.Sprintf("%s is defined but has no result (the run stopped, or -run left it out)", name))
		}
	}
	if want := len(defined) - allowedSkips; passed != want {
		problems = append(problems, fmt.Sprintf("%d scenarios passed, want %d (%d defined, %d skipped as allowed)", passed, want, len(defined), allowedSkips))
	}
	return problems
}

func reasonOrNone(r string) string {
	if r == "" {
		return "(no reason given in the " + strings.TrimSpace(skipPrefix) + " format: skip through framework.Skip)"
	}
	return r
}

// Report writes the scenarios' results, every skip with its reason, the counts and the problems.
func Report(w io.Writer, outcomes []Outcome, defined []string, allow map[string]string, problems []string) {
	counts := map[string]int{}
	for _, o := range outcomes {
		if o.TopLevel() {
			counts[o.Result]++
		}
		line := fmt.Sprintf("  %s %s (%.1fs)", o.Result, o.Name, o.Seconds)
		if o.Result == Skip {
			verdict := "NOT ALLOWED"
			if why, ok := allow[o.Name]; ok {
				verdict = "allowed: " + why
			}
			line += fmt.Sprintf(": %s [%s]", reasonOrNone(o.Reason), verdict)
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "scenarios: %d defined, %d passed, %d failed, %d skipped\n", len(defined), counts[Pass], counts[Fail], counts[Skip])
	if len(problems) == 0 {
		fmt.Fprintln(w, "e2e summary: OK")
		return
	}
	fmt.Fprintf(w, "e2e summary: %d problem(s):\n", len(problems))
	for _, p := range problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}
