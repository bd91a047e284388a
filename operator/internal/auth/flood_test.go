package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/elasti-dev/elasti/pkg/names"
)

// garbage returns n tokens of the kinds a flood would send: random strings, random three-part
// strings, JWTs for another audience, expired JWTs, unsigned ("alg":"none") JWTs, JWTs without
// exp, and oversized ones.
func garbage(n int) []string {
	enc := base64.RawURLEncoding.EncodeToString
	r := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, 8+r.IntN(40))
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"[r.IntN(64)]
		}
		return string(b)
	}
	out := make([]string, 0, n)
	for i := range n {
		switch i % 7 {
		case 0:
			out = append(out, word())
		case 1:
			out = append(out, word()+"."+word()+"."+word())
		case 2:
			out = append(out, jwtFor([]string{"https://kubernetes.default.svc", word()}, time.Now().Add(time.Hour), word()))
		case 3:
			out = append(out, jwtFor([]string{names.DefaultAudience}, time.Now().Add(-time.Duration(2+r.IntN(1000))*time.Minute), word()))
		case 4:
			out = append(out, enc([]byte(`{"alg":"none"}`))+"."+enc(fmt.Appendf(nil, `{"aud":%q,"exp":%d}`, names.DefaultAudience, time.Now().Add(time.Hour).Unix()))+"."+enc([]byte(word())))
		case 5:
			out = append(out, enc([]byte(`{"alg":"RS256"}`))+"."+enc(fmt.Appendf(nil, `{"aud":%q,"jti":%q}`, names.DefaultAudience, word()))+".c2ln")
		case 6:
			out = append(out, jwtFor([]string{names.DefaultAudience}, time.Now().Add(time.Hour), strings.Repeat(word(), 1000)))
		}
	}
	return out
}

// TestGarbageTokensCostNoTokenReview: 1,000 tokens that are not JWTs for our audience, or have
// expired, cause 0 TokenReviews (issue 12: every distinct bearer string used to cost one).
func TestGarbageTokensCostNoTokenReview(t *testing.T) {
	rev := &fakeReviewer{}
	a := newTestAuth(t, rev)
	before := testutil.ToFloat64(tokenReviews.WithLabelValues("unauthenticated")) + testutil.ToFloat64(tokenReviews.WithLabelValues("authenticated"))
	for _, g := range garbage(1000) {
		_, err := a.AuthenticateToken(context.Background(), g)
		require.ErrorIs(t, err, ErrUnauthenticated, g)
	}
	assert.Zero(t, rev.count(), "TokenReviews sent for garbage")
	after := testutil.ToFloat64(tokenReviews.WithLabelValues("unauthenticated")) + testutil.ToFloat64(tokenReviews.WithLabelValues("authenticated"))
	assert.Zero(t, after-before, "elasti_operator_tokenreviews_total moved")
	assert.Zero(t, a.rejected.len(), "refusing garbage costs no cache entry either")
	assert.Positive(t, testutil.ToFloat64(signinRejections.WithLabelValues(rejectMalformed)))
	assert.Positive(t, testutil.ToFloat64(signinRejections.WithLabelValues(rejectAudience)))
	assert.Positive(t, testutil.ToFloat64(signinRejections.WithLabelValues(rejectExpired)))
}

// TestForgedJWTsAreRateLimited: well-formed JWTs with our audience and a future expiry pass the
// precheck (anyone can write one), so TokenReviews are bounded per second; the rest are throttled
// (503 and a retry for a real sidecar), not refused.
func TestForgedJWTsAreRateLimited(t *testing.T) {
	rev := &fakeReviewer{}
	c := newTestAuth(t, rev)
	a := New(Options{Reviewer: rev, Pods: c.pods, Trust: c.trust, ReviewsPerSecond: 10})
	start := time.Now()
	throttled := 0
	for i := range 1000 {
		_, err := a.AuthenticateToken(context.Background(), tok(fmt.Sprintf("forged-%d", i)))
		require.Error(t, err)
		if errors.Is(err, ErrThrottled) {
			require.NotErrorIs(t, err, ErrUnauthenticated)
			throttled++
		}
	}
	allowed := 20 + int(10*time.Since(start).Seconds()) + 1 // burst + rate × elapsed
	assert.LessOrEqual(t, rev.count(), allowed)
	assert.Equal(t, 1000, rev.count()+throttled)
}

// TestGarbageCannotEvictValidSidecars: a sidecar's cached review survives any number of
// refused tokens and of tokens that authenticate but belong to untrusted pods.
func TestGarbageCannotEvictValidSidecars(t *testing.T) {
	valid := tok("valid")
	statuses := map[string]authenticationv1.TokenReviewStatus{valid: bound("edge", "gw", "gw-native", "u1")}
	for i := range 2000 {
		statuses[tok(fmt.Sprintf("untrusted-%d", i))] = bound("plain", "gw", "gw-forged", "u5") // a real token of a forged pod
	}
	rev := &fakeReviewer{statuses: statuses}
	forged := sidecarPod("gw-forged", "u5", true, true)
	forged.Namespace = "plain"
	base := newTestAuth(t, rev, sidecarPod("gw-native", "u1", true, true), forged)
	a := New(Options{Reviewer: rev, Pods: base.pods, Trust: base.trust, CacheSize: 64, ReviewsPerSecond: -1})

	_, err := a.AuthenticateToken(context.Background(), valid)
	require.NoError(t, err)
	for i := range 5000 {
		_, err := a.AuthenticateToken(context.Background(), tok(fmt.Sprintf("refused-%d", i)))
		require.ErrorIs(t, err, ErrUnauthenticated)
	}
	for i := range 2000 {
		_, err := a.AuthenticateToken(context.Background(), tok(fmt.Sprintf("untrusted-%d", i)))
		require.ErrorIs(t, err, ErrUnauthenticated)
	}
	reviews := rev.count()
	_, err = a.AuthenticateToken(context.Background(), valid)
	require.NoError(t, err)
	assert.Equal(t, reviews, rev.count(), "the valid sidecar's review was evicted")
	assert.Equal(t, 1, a.accepted.len(), "only trusted sidecars enter the accepted cache")
}

// TestConcurrentSignInsShareOneReview: concurrent sign-ins with one new token cost one review.
func TestConcurrentSignInsShareOneReview(t *testing.T) {
	valid := tok("valid")
	rev := &fakeReviewer{statuses: map[string]authenticationv1.TokenReviewStatus{valid: bound("edge", "gw", "gw-native", "u1")}, delay: 50 * time.Millisecond}
	a := newTestAuth(t, rev, sidecarPod("gw-native", "u1", true, true))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := a.AuthenticateToken(context.Background(), valid)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, rev.count(), "a stream, an ack and a RequestCount signing in at once with a new token")
}

func TestPrecheck(t *testing.T) {
	now := time.Now()
	for name, tt := range map[string]struct {
		token  string
		reason string
	}{
		"valid":                    {jwtFor([]string{names.DefaultAudience}, now.Add(time.Minute), "a"), ""},
		"one of several audiences": {jwtFor([]string{"x", names.DefaultAudience}, now.Add(time.Minute), "a"), ""},
		"expired within leeway":    {jwtFor([]string{names.DefaultAudience}, now.Add(-30*time.Second), "a"), ""},
		"expired":                  {jwtFor([]string{names.DefaultAudience}, now.Add(-2*time.Minute), "a"), rejectExpired},
		"other audience":           {jwtFor([]string{"x"}, now.Add(time.Minute), "a"), rejectAudience},
		"no audience":              {jwtFor(nil, now.Add(time.Minute), "a"), rejectAudience},
		"two parts":                {"a.b", rejectMalformed},
		"empty signature":          {strings.TrimSuffix(jwtFor([]string{names.DefaultAudience}, now.Add(time.Minute), "a"), "c2ln"), rejectMalformed},
		"payload not base64":       {"eyJhbGciOiJSUzI1NiJ9.!!!.c2ln", rejectMalformed},
		"payload not an object":    {"eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`[1]`)) + ".c2ln", rejectMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			err := precheck(tt.token, names.DefaultAudience, now)
			if tt.reason == "" {
				require.NoError(t, err)
				return
			}
			var pe *precheckError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.reason, pe.reason)
			assert.ErrorIs(t, err, ErrUnauthenticated)
		})
	}
}

// FuzzPrecheck: precheck reads untrusted input; it must never panic, and never accept a token
// that is not three non-empty dot-separated parts.
func FuzzPrecheck(f *testing.F) {
	f.Add(tok("seed"))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOjF9.c2ln")
	f.Fuzz(func(t *testing.T, token string) {
		if precheck(token, names.DefaultAudience, time.Now()) == nil && len(strings.Split(token, ".")) != 3 {
			t.Fatalf("accepted %q", token)
		}
	})
}

// BenchmarkPrecheckGarbage is the cost of refusing a garbage token (no request, no cache entry).
func BenchmarkPrecheckGarbage(b *testing.B) {
	tokens := garbage(700)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = precheck(tokens[i%len(tokens)], names.DefaultAudience, time.Now())
		i++
	}
}
