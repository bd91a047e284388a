package deps

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// machine is a fake machine for deps.sh: a PATH directory holding only what the case provides
// (tools, a stub `id`, maybe a stub `apt-get` that logs its arguments), and a file that stands
// for an absolute-path check.
type machine struct {
	t       *testing.T
	bin     string
	file    string
	aptLog  string
	list    string
	chmod   string
	dirPath string
}

// testList is the list the cases run against: tool-a and tool-b come from one package, the
// absolute path from another.
const testList = `# a comment, then a blank line

g  tool-a  pkg-a  why a
g  tool-b  pkg-a  why b
g  tool-c  pkg-c  why c
g  @FILE@  pkg-d  why d
other  tool-z  pkg-z  why z
`

func newMachine(t *testing.T) *machine {
	t.Helper()
	dir := t.TempDir()
	chmod, err := exec.LookPath("chmod")
	require.NoError(t, err)
	m := &machine{t: t, bin: filepath.Join(dir, "bin"), file: filepath.Join(dir, "cni", "bridge"),
		aptLog: filepath.Join(dir, "apt.log"), list: filepath.Join(dir, "packages.txt"), chmod: chmod, dirPath: dir}
	require.NoError(t, os.MkdirAll(m.bin, 0o755))
	require.NoError(t, os.WriteFile(m.list, []byte(strings.ReplaceAll(testList, "@FILE@", m.file)), 0o644))
	return m
}

func (m *machine) script(name, body string) {
	m.t.Helper()
	require.NoError(m.t, os.WriteFile(filepath.Join(m.bin, name), []byte("#!/bin/bash\n"+body+"\n"), 0o755))
}

// have makes the named tools (and, for "FILE", the absolute-path check) present.
func (m *machine) have(tools ...string) {
	for _, tool := range tools {
		if tool == "FILE" {
			require.NoError(m.t, os.MkdirAll(filepath.Dir(m.file), 0o755))
			require.NoError(m.t, os.WriteFile(m.file, nil, 0o755))
			continue
		}
		m.script(tool, "exit 0")
	}
}

func (m *machine) uid(uid int) { m.script("id", fmt.Sprintf(`[ "$1" = -u ] && echo %d`, uid)) }

// apt installs a stub apt-get: it logs every call; `install` exits with installRC after
// printing installOut, and, when it succeeds, creates the tools named in provides.
func (m *machine) apt(installRC int, installOut string, provides ...string) {
	var create strings.Builder
	for _, p := range provides {
		if p == "FILE" {
			fmt.Fprintf(&create, ": > %q\n", m.file)
			continue
		}
		fmt.Fprintf(&create, "printf '#!/bin/bash\\nexit 0\\n' > %q; %q +x %q\n", filepath.Join(m.bin, p), m.chmod, filepath.Join(m.bin, p))
	}
	if slicesContain(provides, "FILE") {
		require.NoError(m.t, os.MkdirAll(filepath.Dir(m.file), 0o755))
	}
	m.script("apt-get", fmt.Sprintf(`echo "$*" >> %q
[ "$1" = install ] || [ "$3" = install ] || [ "$2" = install ] || exit 0
printf '%%s\n' %q
[ %d = 0 ] || exit %d
%s`, m.aptLog, installOut, installRC, installRC, create.String()))
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// run runs deps.sh with PATH = the fake machine's bin only.
func (m *machine) run(args ...string) (exit int, stderr string) {
	m.t.Helper()
	bash, err := exec.LookPath("bash")
	require.NoError(m.t, err)
	cmd := exec.Command(bash, append([]string{"deps.sh"}, args...)...)
	cmd.Env = []string{"PATH=" + m.bin, "ELASTI_DEPS_LIST=" + m.list, "HOME=" + m.dirPath}
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), errBuf.String()
	}
	require.NoError(m.t, err)
	return 0, errBuf.String()
}

func (m *machine) aptCalls() []string {
	b, err := os.ReadFile(m.aptLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(m.t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

const installCall = "install -y -qq --no-install-recommends pkg-a pkg-c pkg-d"

func TestEnsureDecides(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(m *machine)
		wantExit int
		wantApt  []string
		// wantOut are substrings of stderr, in order.
		wantOut []string
		notOut  []string
	}{{
		name:     "nothing missing: nothing to do",
		setup:    func(m *machine) { m.uid(0); m.apt(0, ""); m.have("tool-a", "tool-b", "tool-c", "FILE") },
		wantExit: 0,
		notOut:   []string{"installing", "lacks"},
	}, {
		name:     "root with apt-get: update once, then install each missing package once",
		setup:    func(m *machine) { m.uid(0); m.apt(0, "", "tool-a", "tool-b", "tool-c", "FILE") },
		wantExit: 0,
		wantApt:  []string{"update -qq", installCall},
		wantOut: []string{"tool-a (package pkg-a): why a", "tool-b (package pkg-a): why b", "tool-c (package pkg-c): why c",
			"(package pkg-d): why d", "installing the Debian packages pkg-a pkg-c pkg-d", "installed; everything g needs is here"},
	}, {
		name:     "root with apt-get: only what is missing",
		setup:    func(m *machine) { m.uid(0); m.apt(0, "", "tool-c"); m.have("tool-a", "tool-b", "FILE") },
		wantExit: 0,
		wantApt:  []string{"update -qq", "install -y -qq --no-install-recommends pkg-c"},
		wantOut:  []string{"installing the Debian packages pkg-c "},
		notOut:   []string{"pkg-a"},
	}, {
		name:     "root with apt-get that fails: its error, exit 1",
		setup:    func(m *machine) { m.uid(0); m.apt(100, "E: Unable to locate package pkg-c") },
		wantExit: 1,
		wantApt:  []string{"update -qq", installCall},
		wantOut:  []string{"E: Unable to locate package pkg-c", "apt-get install pkg-a pkg-c pkg-d failed"},
	}, {
		name:     "root, apt-get succeeds but a check still fails: exit 1",
		setup:    func(m *machine) { m.uid(0); m.apt(0, "", "tool-a", "tool-b", "FILE") },
		wantExit: 1,
		wantApt:  []string{"update -qq", installCall},
		wantOut:  []string{"still missing after apt-get install", "tool-c (package pkg-c)"},
	}, {
		name:     "not root: the one command to run, nothing installed",
		setup:    func(m *machine) { m.uid(1000); m.apt(0, "", "tool-a", "tool-b", "tool-c", "FILE") },
		wantExit: 1,
		wantOut: []string{"needs root",
			"sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends pkg-a pkg-c pkg-d'"},
	}, {
		name:     "root without apt-get: the packages and the Debian command",
		setup:    func(m *machine) { m.uid(0) },
		wantExit: 1,
		wantOut:  []string{"no apt-get here", "pkg-a pkg-c pkg-d", "apt-get update && apt-get install -y --no-install-recommends pkg-a pkg-c pkg-d"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			tc.setup(m)
			exit, out := m.run("ensure", "g")
			assert.Equal(t, tc.wantExit, exit, "stderr:\n%s", out)
			assert.Equal(t, tc.wantApt, m.aptCalls())
			rest := out
			for _, w := range tc.wantOut {
				i := strings.Index(rest, w)
				if !assert.GreaterOrEqual(t, i, 0, "stderr lacks %q (in order); stderr:\n%s", w, out) {
					break
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tc.notOut {
				assert.NotContains(t, out, n)
			}
		})
	}
}

func TestCheckAndPackages(t *testing.T) {
	m := newMachine(t)
	m.uid(0)
	m.have("tool-a", "tool-b", "FILE")
	exit, out := m.run("check", "g")
	assert.Equal(t, 1, exit)
	assert.Contains(t, out, "tool-c (package pkg-c): why c")
	assert.NotContains(t, out, "tool-a")

	exit, out = m.run("check", "nope")
	assert.Equal(t, 2, exit)
	assert.Contains(t, out, "no group 'nope'")

	bash, err := exec.LookPath("bash")
	require.NoError(t, err)
	cmd := exec.Command(bash, "deps.sh", "packages", "g", "other")
	cmd.Env = []string{"PATH=" + m.bin, "ELASTI_DEPS_LIST=" + m.list}
	b, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "pkg-a\npkg-c\npkg-d\npkg-z\n", string(b))
}

// TestListIsTheOnlyPlace checks the real list (every line has a known group, a check, a package
// and a reason) and that no script outside hack/deps names Debian packages to install: .ci/run,
// up.sh, ci-e2e.sh and dockerd.sh all go through deps.sh. (hack/kind/node-image.sh installs the
// packages of the kind node image inside that image's root file system, not on this machine.)
func TestListIsTheOnlyPlace(t *testing.T) {
	b, err := os.ReadFile("packages.txt")
	require.NoError(t, err)
	groups := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		require.GreaterOrEqual(t, len(f), 4, "packages.txt line %d needs GROUP CHECK PACKAGE WHY: %q", i+1, line)
		assert.Contains(t, []string{"ci", "cluster", "kind"}, f[0], "line %d", i+1)
		groups[f[0]]++
	}
	for _, g := range []string{"ci", "cluster", "kind"} {
		assert.Positive(t, groups[g], "group %s is empty", g)
	}

	root := filepath.Join("..", "..")
	aptInstall := regexp.MustCompile(`apt-get\s+install`)
	for _, f := range []string{".ci/run", "hack/cluster/up.sh", "hack/ci-e2e.sh", "hack/kind/dockerd.sh", "hack/demo.sh", "Makefile"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		assert.False(t, aptInstall.Match(b), "%s installs packages itself; it must call hack/deps/deps.sh", f)
		if f != "hack/demo.sh" && f != "Makefile" {
			assert.True(t, strings.Contains(string(b), "hack/deps/deps.sh"), "%s does not use hack/deps/deps.sh", f)
		}
	}
}
