package admission

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/elasti-dev/elasti/pkg/names"
)

// BenchmarkHandler measures one full request (decode, namespace lookup, mutate, patch, encode)
// for an injected gateway pod and for an ordinary pod, and reports p50/p99 latency in ns/op
// units next to the mean. Compare runs with benchstat; nothing here asserts a time.
func BenchmarkHandler(b *testing.B) {
	cases := map[string][]byte{
		"inject":      reviewBody(b, "edge", gatewayPod(map[string]string{names.AnnotationSidecarCPU: "20m"}), false),
		"not-gateway": reviewBody(b, "edge", gatewayPod(nil).DeepCopy(), false),
	}
	// Make the second case an ordinary pod.
	plain := gatewayPod(nil)
	plain.Labels = map[string]string{"app": "db"}
	cases["not-gateway"] = reviewBody(b, "edge", plain, false)
	for name, body := range cases {
		b.Run(name, func(b *testing.B) {
			h, _ := newHandler(b)
			samples := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				w := post(h, body)
				samples = append(samples, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body.String())
				}
			}
			b.StopTimer()
			slices.Sort(samples)
			b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
