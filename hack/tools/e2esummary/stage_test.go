package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The e2e stage (hack/ci-e2e.sh) this tool serves: its two exits that need no cluster.
//
// The stage is only ever run here as a user other than root (nobody, through setpriv, when the
// tests run as root). As root, a stage that failed to honour its opt-out would install packages
// and bring the local cluster up from a unit test; as nobody it cannot get past its first check.

// ciStage runs hack/ci-e2e.sh as a non-root user with extra environment and returns its exit code
// and last line.
func ciStage(t *testing.T, env ...string) (int, string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "ci-e2e.sh"))
	require.NoError(t, err)
	argv := append(notRoot(t, script), script)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return code, lines[len(lines)-1]
}

// notRoot returns the command prefix that runs a program as nobody when this process is root
// (none otherwise), and skips the test when that is not possible.
func notRoot(t *testing.T, script string) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("running as root without setpriv: the stage is never run as root here")
	}
	wrap := []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
	if err := exec.Command(wrap[0], append(wrap[1:], "test", "-r", script)...).Run(); err != nil {
		t.Skip("nobody cannot read the checkout, and the stage is never run as root here")
	}
	return wrap
}

func TestCIStageOptOutSkipsAndSaysWhy(t *testing.T) {
	code, last := ciStage(t, "ELASTI_E2E_OPTOUT=no network namespaces in this runner")
	assert.Equal(t, 0, code)
	assert.Contains(t, last, "=== ci-e2e: RESULT: SKIPPED (ELASTI_E2E_OPTOUT: no network namespaces in this runner)")
}

// TestCIStageFailsWhereNoClusterCanRun: a machine that cannot run the local cluster (here: not
// root) fails the stage, and the last line says why and how to opt out.
func TestCIStageFailsWhereNoClusterCanRun(t *testing.T) {
	code, last := ciStage(t, "ELASTI_E2E_OPTOUT=")
	assert.Equal(t, 1, code)
	assert.Contains(t, last, "=== ci-e2e: RESULT: FAILED: this machine cannot run the local cluster: not root")
	assert.Contains(t, last, "set ELASTI_E2E_OPTOUT=<reason>")
}
