// Package testenv starts a real kube-apiserver and etcd for integration tests (controller-runtime's
// envtest) with Elasti's CRDs installed. The binaries are Kubernetes' own, built from source by
// hack/build-k8s.sh and cached under $HOME/.cache/elasti; KUBEBUILDER_ASSETS points at them (the
// Makefile sets it; when it is unset, Start runs the script itself).
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	elastiv1alpha1 "github.com/elasti-dev/elasti/api/v1alpha1"
)

// Env is a running API server.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
}

// RepoRoot returns the repository root (found from this file's location).
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Scheme returns a scheme with client-go's types and Elasti's API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := elastiv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Assets returns the directory holding kube-apiserver and etcd, building them if needed.
func Assets(t testing.TB) string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "build-k8s.sh"), "etcd", "kube-apiserver")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building kube-apiserver and etcd with hack/build-k8s.sh: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1]
}

// Start starts an API server with Elasti's CRDs and stops it when the test ends. Pass an
// environment to customise it (e.g. WebhookInstallOptions); nil gives the default.
func Start(t testing.TB, env *envtest.Environment) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if env == nil {
		env = &envtest.Environment{}
	}
	env.BinaryAssetsDirectory = Assets(t)
	env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, filepath.Join(RepoRoot(), "manifests", "base", "crd"))
	env.ErrorIfCRDPathMissing = true
	scheme := Scheme()
	env.Scheme = scheme
	if env.CRDInstallOptions.Scheme == nil {
		env.CRDInstallOptions.Scheme = scheme
	}
	cfg, err := env.Start()
	if err != nil {
		// Start may fail after etcd and the API server are already running (e.g. a CRD the
		// server refuses): stop them, or they outlive the test.
		_ = env.Stop()
		t.Fatalf("starting envtest (kube-apiserver and etcd from %s): %v", env.BinaryAssetsDirectory, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return &Env{Environment: env, Config: cfg, Client: c, Scheme: scheme}
}
