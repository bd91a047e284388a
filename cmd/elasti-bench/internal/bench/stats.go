package bench

import (
	"math"
	"sort"
	"time"
)

// Dist summarises a set of durations, in milliseconds.
type Dist struct {
	N    int     `json:"n"`
	Min  float64 `json:"minMs"`
	P50  float64 `json:"p50Ms"`
	P95  float64 `json:"p95Ms"`
	P99  float64 `json:"p99Ms"`
	Max  float64 `json:"maxMs"`
	Mean float64 `json:"meanMs"`
}

// Summarize computes a Dist (nearest-rank percentiles). An empty input gives a zero Dist.
func Summarize(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Dist{
		N: len(s), Min: ms(s[0]), Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s))),
		P50: ms(rank(s, 0.50)), P95: ms(rank(s, 0.95)), P99: ms(rank(s, 0.99)),
	}
}

// rank is the nearest-rank percentile of a sorted slice.
func rank(s []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	return s[i]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
