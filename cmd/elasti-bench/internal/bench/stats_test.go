package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Dist
	}{
		{"empty", nil, Dist{}},
		{"one", []time.Duration{5 * time.Millisecond}, Dist{N: 1, Min: 5, P50: 5, P95: 5, P99: 5, Max: 5, Mean: 5}},
		{"unsorted hundred", hundred(), Dist{N: 100, Min: 1, P50: 50, P95: 95, P99: 99, Max: 100, Mean: 50.5}},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, Summarize(tc.in)) })
	}
}

func hundred() []time.Duration {
	var out []time.Duration
	for i := 100; i >= 1; i-- {
		out = append(out, time.Duration(i)*time.Millisecond)
	}
	return out
}
