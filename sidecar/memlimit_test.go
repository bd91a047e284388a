package sidecar

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReadMemoryMax(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    int64
		ok      bool
	}{
		{name: "limit", content: "134217728\n", want: 134217728, ok: true},
		{name: "no limit", content: "max\n"},
		{name: "garbage", content: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			assert.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			got, ok := readMemoryMax(path)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
	_, ok := readMemoryMax(filepath.Join(dir, "missing"))
	assert.False(t, ok)
}
