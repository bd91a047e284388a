package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// A `go test -v` log of three scenarios as the suite prints them, built from the pieces below.
const (
	logHeader = "e2e: kubeconfig /root/.cache/elasti/cluster/kubeconfig\n"
	passWake  = `=== RUN   TestWakeBurst
    wake_test.go:40: [  1.20s] 1000 of 1000 answered 200
--- PASS: TestWakeBurst (31.02s)
`
	passAuth = `=== RUN   TestElastiserverRejectsNonSidecar
=== RUN   TestElastiserverRejectsNonSidecar/no_token
=== RUN   TestElastiserverRejectsNonSidecar/other_pod
--- PASS: TestElastiserverRejectsNonSidecar (12.50s)
    --- PASS: TestElastiserverRejectsNonSidecar/no_token (0.10s)
    --- PASS: TestElastiserverRejectsNonSidecar/other_pod (0.20s)
`
	passCA = `=== RUN   TestCARotation
    carotation_test.go:80: [ 20.00s] new bundle published
--- PASS: TestCARotation (95.00s)
`
	skipCA = `=== RUN   TestCARotation
    carotation_test.go:40: SKIP: no Secret elasti-system/elasti-ca, so the webhook does not manage the CA here (cert-manager mode)
--- SKIP: TestCARotation (0.02s)
`
	// skipCAOldFormat is how TestCARotation skipped before framework.Skip.
	skipCAOldFormat = `=== RUN   TestCARotation
    carotation_test.go:40: skipped: no Secret elasti-system/elasti-ca
--- SKIP: TestCARotation (0.02s)
`
	failCA = `=== RUN   TestCARotation
    carotation_test.go:50: [ 1.00s] CA secret read
    carotation_test.go:55: restarting the CA
    carotation_test.go:60: the new bundle was never published
    main_test.go:170: 
        ---- namespace e2e-ca ----
        pod x ready=true
--- FAIL: TestCARotation (120.00s)
`
	skipAuthSub = `=== RUN   TestElastiserverRejectsNonSidecar
=== RUN   TestElastiserverRejectsNonSidecar/no_token
    auth_test.go:60: SKIP: not on the node
=== RUN   TestElastiserverRejectsNonSidecar/other_pod
--- PASS: TestElastiserverRejectsNonSidecar (12.50s)
    --- SKIP: TestElastiserverRejectsNonSidecar/no_token (0.00s)
    --- PASS: TestElastiserverRejectsNonSidecar/other_pod (0.20s)
`
	logOK   = "PASS\nok  \tgithub.com/elasti-dev/elasti/test/e2e\t140.000s\n"
	logFail = "FAIL\nFAIL\tgithub.com/elasti-dev/elasti/test/e2e\t140.000s\n"
	// crashed is a run cut short by the test timeout in the middle of the second scenario.
	crashed = "=== RUN   TestCARotation\npanic: test timed out after 40m0s\n"
)

var three = []string{"TestWakeBurst", "TestElastiserverRejectsNonSidecar", "TestCARotation"}

func TestJudge(t *testing.T) {
	tests := []struct {
		name    string
		log     string
		defined []string
		allow   map[string]string
		// problems are substrings of the problems expected, in order; none means the gate passes.
		problems []string
	}{
		{"every scenario passed", logHeader + passWake + passAuth + passCA + logOK, three, nil, nil},
		{"a skip not on the allow-list", logHeader + passWake + passAuth + skipCA + logOK, three, nil, []string{
			"TestCARotation skipped, and it is not on the allow-list: no Secret elasti-system/elasti-ca",
			"2 scenarios passed, want 3 (3 defined, 0 skipped as allowed)",
		}},
		{"an allowed skip", logHeader + passWake + passAuth + skipCA + logOK, three,
			map[string]string{"TestCARotation": "cert-manager lane"}, nil},
		{"a skip in the old format has no reason", logHeader + passWake + passAuth + skipCAOldFormat + logOK, three, nil, []string{
			"TestCARotation skipped, and it is not on the allow-list: (no reason given in the SKIP: format",
			"2 scenarios passed, want 3",
		}},
		{"a skipped subtest", logHeader + passWake + skipAuthSub + passCA + logOK, three, nil, []string{
			"TestElastiserverRejectsNonSidecar/no_token skipped, and it is not on the allow-list: not on the node",
		}},
		{"a failure", logHeader + passWake + passAuth + failCA + logFail, three, nil, []string{
			"TestCARotation failed, its last words: restarting the CA | the new bundle was never published",
			"2 scenarios passed, want 3",
		}},
		{"fewer passes than defined: the run stopped", logHeader + passWake + passAuth + crashed, three, nil, []string{
			"TestCARotation is defined but has no result",
			"2 scenarios passed, want 3",
		}},
		{"nothing ran", logHeader + logOK, three, nil, []string{
			"TestWakeBurst is defined but has no result",
			"TestElastiserverRejectsNonSidecar is defined but has no result",
			"TestCARotation is defined but has no result",
			"0 scenarios passed, want 3",
		}},
		{"a result for a scenario not defined", logHeader + passWake + passAuth + passCA + logOK, three[:2], nil, []string{
			"TestCARotation has a result but is not among the scenarios the suite defines",
			"3 scenarios passed, want 2",
		}},
		{"the suite defines nothing", logHeader + logOK, nil, nil, []string{
			"the suite defines no scenario",
		}},
		{"a scenario reported twice", logHeader + passWake + passWake + passAuth + passCA + logOK, three, nil, []string{
			"TestWakeBurst has more than one result",
			"4 scenarios passed, want 3",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outcomes, err := ParseLog(strings.NewReader(tc.log))
			require.NoError(t, err)
			got := Judge(outcomes, tc.defined, tc.allow)
			require.Len(t, got, len(tc.problems), "problems: %q", got)
			for i, want := range tc.problems {
				assert.Contains(t, got[i], want)
			}
		})
	}
}

func TestParseLogAttributesSkipReasons(t *testing.T) {
	got, err := ParseLog(strings.NewReader(skipAuthSub + skipCA))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{
		{Name: "TestElastiserverRejectsNonSidecar", Result: Pass, Seconds: 12.5},
		{Name: "TestElastiserverRejectsNonSidecar/no_token", Result: Skip, Reason: "not on the node"},
		{Name: "TestElastiserverRejectsNonSidecar/other_pod", Result: Pass, Seconds: 0.2},
		{Name: "TestCARotation", Result: Skip, Seconds: 0.02,
			Reason: "no Secret elasti-system/elasti-ca, so the webhook does not manage the CA here (cert-manager mode)"},
	}, got)
}

func TestParseDefined(t *testing.T) {
	got, err := ParseDefined(strings.NewReader("TestWakeBurst\nTestCARotation\nBenchmarkX\nok  \tgithub.com/elasti-dev/elasti/test/e2e\t0.08s\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"TestWakeBurst", "TestCARotation"}, got)
}

func TestParseAllow(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{"comments only", "# nothing\n\n", map[string]string{}, ""},
		{"entries", "TestAPIServerRestart  kind lane: no pid file\nTestA/sub why\n",
			map[string]string{"TestAPIServerRestart": "kind lane: no pid file", "TestA/sub": "why"}, ""},
		{"no reason", "TestAPIServerRestart\n", nil, `line 1: "TestAPIServerRestart" gives no reason`},
		{"listed twice", "TestA one\nTestA two\n", nil, "line 2: TestA is listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAllow(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestReportListsEverySkip(t *testing.T) {
	outcomes, err := ParseLog(strings.NewReader(passWake + skipAuthSub + skipCA))
	require.NoError(t, err)
	allow := map[string]string{"TestCARotation": "cert-manager lane"}
	problems := Judge(outcomes, three, allow)
	var b strings.Builder
	Report(&b, outcomes, three, allow, problems)
	assert.Equal(t, `  PASS TestWakeBurst (31.0s)
  PASS TestElastiserverRejectsNonSidecar (12.5s)
  SKIP TestElastiserverRejectsNonSidecar/no_token (0.0s): not on the node [NOT ALLOWED]
  PASS TestElastiserverRejectsNonSidecar/other_pod (0.2s)
  SKIP TestCARotation (0.0s): no Secret elasti-system/elasti-ca, so the webhook does not manage the CA here (cert-manager mode) [allowed: cert-manager lane]
scenarios: 3 defined, 2 passed, 0 failed, 1 skipped
e2e summary: 1 problem(s):
  - TestElastiserverRejectsNonSidecar/no_token skipped, and it is not on the allow-list: not on the node
`, b.String())
}

func TestSkipPrefixIsTheFrameworks(t *testing.T) {
	assert.Equal(t, framework.SkipPrefix, skipPrefix)
}

// TestAllowListIsDocumented: every entry of test/e2e/skips.allow names a scenario of the suite
// and appears, with its reason, in docs/e2e.md.
func TestAllowListIsDocumented(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	f, err := os.Open(filepath.Join(root, "test", "e2e", "skips.allow"))
	require.NoError(t, err)
	defer f.Close()
	allow, err := ParseAllow(f)
	require.NoError(t, err)
	docs, err := os.ReadFile(filepath.Join(root, "docs", "e2e.md"))
	require.NoError(t, err)
	sources, err := filepath.Glob(filepath.Join(root, "test", "e2e", "*_test.go"))
	require.NoError(t, err)
	var suite strings.Builder
	for _, s := range sources {
		b, err := os.ReadFile(s)
		require.NoError(t, err)
		suite.Write(b)
	}
	assert.True(t, strings.Contains(string(docs), "test/e2e/skips.allow"), "docs/e2e.md must point at the allow-list")
	for name, why := range allow {
		scenario, _, _ := strings.Cut(name, "/")
		assert.True(t, regexp.MustCompile(`func `+regexp.QuoteMeta(scenario)+`\(t \*testing\.T\)`).MatchString(suite.String()), "%s is not a scenario of test/e2e", name)
		assert.True(t, strings.Contains(string(docs), "`"+name+"`"), "docs/e2e.md does not name the allowed skip %s", name)
		assert.True(t, strings.Contains(string(docs), why), "docs/e2e.md does not give the reason %s's skip is allowed: %s", name, why)
	}
}
