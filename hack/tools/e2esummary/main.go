// Command e2esummary reads the `go test -v` log of the e2e suite and fails unless the run checked
// what the suite defines: every scenario listed by `go test -list` has a result, none failed, and
// every skip (each printed with its reason) is on the allow-list. hack/ci-e2e.sh runs it after
// the suite; it needs no cluster, so the gate can be tried on any log (docs/e2e.md, "CI").
//
//	go test -tags e2e -list . ./test/e2e/ > defined.txt
//	go run ./hack/tools/e2esummary -defined defined.txt -allow test/e2e/skips.allow e2e.log
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	definedFile := flag.String("defined", "", "output of `go test -tags e2e -list <E2E_RUN> ./test/e2e/` (required)")
	allowFile := flag.String("allow", "test/e2e/skips.allow", "skips allowed in CI, each with its reason")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: e2esummary -defined FILE [-allow FILE] GO-TEST-V-LOG\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *definedFile == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ok, err := run(os.Stdout, flag.Arg(0), *definedFile, *allowFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2esummary:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// run reads the three files, prints the report and says whether the run passes the gate.
func run(w io.Writer, logFile, definedFile, allowFile string) (bool, error) {
	outcomes, err := parseFile(logFile, ParseLog)
	if err != nil {
		return false, err
	}
	defined, err := parseFile(definedFile, ParseDefined)
	if err != nil {
		return false, err
	}
	allow, err := parseFile(allowFile, ParseAllow)
	if err != nil {
		return false, err
	}
	problems := Judge(outcomes, defined, allow)
	Report(w, outcomes, defined, allow, problems)
	return len(problems) == 0, nil
}

func parseFile[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
