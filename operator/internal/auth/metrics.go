package auth

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics with fixed label values only.
var (
	tokenReviews = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_operator_tokenreviews_total",
		Help: "TokenReviews sent to the API server to authenticate sidecars, by result (authenticated, unauthenticated, error).",
	}, []string{"result"})
	signinRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_operator_signin_rejections_total",
		Help: "Sidecar sign-ins refused before any TokenReview, by reason (malformed, audience, expired, throttled).",
	}, []string{"reason"})
)

func init() {
	metrics.Registry.MustRegister(tokenReviews, signinRejections)
	for _, r := range []string{"authenticated", "unauthenticated", "error"} {
		tokenReviews.WithLabelValues(r)
	}
	for _, r := range []string{rejectMalformed, rejectAudience, rejectExpired, rejectThrottled} {
		signinRejections.WithLabelValues(r)
	}
}
