package inject

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestTruncate(t *testing.T) {
	assert.Equal(t, "short", Truncate("short", 64))
	assert.Equal(t, "abc...", Truncate("abcdef", 3))
	// "é" is two bytes: a cut at byte 2 would split it, so it is left out whole.
	got := Truncate("aébc", 2)
	assert.Equal(t, "a...", got)
	assert.True(t, utf8.ValidString(got))
}
