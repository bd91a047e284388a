package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParents(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{in: "/pause", want: nil},
		{in: "/usr/local/bin/x", want: []string{"usr/", "usr/local/", "usr/local/bin/"}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) { assert.Equal(t, tc.want, parents(tc.in)) })
	}
}

func TestRunWritesImportableArchive(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	require.NoError(t, os.WriteFile(bin, []byte("#!binary"), 0o755))
	out := filepath.Join(dir, "app.tar")
	require.NoError(t, run(options{binary: bin, image: "elasti/app:v1", out: out, dest: "/usr/bin/app", user: "65532:65532", arch: "amd64", args: "--x=1"}))

	img, err := tarball.ImageFromPath(out, nil)
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/bin/app"}, cfg.Config.Entrypoint)
	assert.Equal(t, []string{"--x=1"}, cfg.Config.Cmd)
	assert.Equal(t, "linux", cfg.OS)

	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		var b bytes.Buffer
		_, _ = io.Copy(&b, tr)
		files[hdr.Name] = b.String()
	}
	assert.Equal(t, "#!binary", files["usr/bin/app"])
	assert.Contains(t, files, "tmp/")
	assert.Contains(t, files["etc/passwd"], "nonroot:x:65532")
}

func TestRunRefusesLatestAndMissingFlags(t *testing.T) {
	require.ErrorContains(t, run(options{binary: "x", image: "elasti/app:latest", out: "y"}), "not latest")
	require.ErrorContains(t, run(options{image: "elasti/app:v1"}), "required")
}
