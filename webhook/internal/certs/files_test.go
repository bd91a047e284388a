package certs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteFilesOnlyRewritesChanges(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	data := map[string][]byte{KeyTLSCert: []byte("cert"), KeyTLSKey: []byte("key"), KeyCACert: []byte("ca")}
	require.NoError(t, WriteFiles(dir, data))
	old := time.Now().Add(-time.Hour)
	for k := range data {
		require.NoError(t, os.Chtimes(filepath.Join(dir, k), old, old))
	}
	data[KeyTLSCert] = []byte("cert2")
	require.NoError(t, WriteFiles(dir, data))
	for k, v := range data {
		b, err := os.ReadFile(filepath.Join(dir, k))
		require.NoError(t, err)
		assert.Equal(t, v, b, k)
		st, err := os.Stat(filepath.Join(dir, k))
		require.NoError(t, err)
		assert.Equal(t, k == KeyTLSCert, st.ModTime().After(old), "%s rewritten only if changed", k)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "no temporary files left behind")
}

func TestFileBundleFollowsRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.crt")
	f := &FileBundle{Path: path, Log: logr.Discard()}
	f.Load()
	assert.Empty(t, f.PEM(), "a missing file is an empty bundle")
	require.NoError(t, os.WriteFile(path, []byte("first"), 0o600))
	f.Load()
	assert.Equal(t, "first", f.PEM())
	require.NoError(t, WriteFiles(filepath.Dir(path), map[string][]byte{KeyCACert: []byte("second")}))
	f.Load()
	assert.Equal(t, "second", f.PEM())
}
