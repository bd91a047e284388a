package framework

import (
	"fmt"
	"testing"
)

// SkipPrefix starts the message of every skip in the suite. hack/ci-e2e.sh's summary
// (hack/tools/e2esummary) finds each skip's reason in the `go test -v` log by it, and fails CI on
// any skip not on test/e2e/skips.allow.
const SkipPrefix = "SKIP: "

// Skip skips the test with the reason, in the one format the CI summary reads. The suite skips
// through nothing else (TestSuiteSkipsOnlyThroughSkip checks it).
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Skip(SkipPrefix + fmt.Sprintf(format, args...))
}
