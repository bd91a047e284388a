package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

const (
	// expiryMargin: a cached review ends this long before the token expires, so an expired token
	// is always reviewed again (and rejected) rather than served from the cache.
	expiryMargin = 30 * time.Second
	// maxPositiveTTL caps how long an accepted review is reused, whatever the token's expiry
	// (a token without exp, or with a long one, is reviewed again at least this often).
	maxPositiveTTL = 10 * time.Minute
	// negativeTTL: a rejected token is not reviewed again for this long, so a caller retrying a
	// bad token does not turn into a TokenReview flood on the API server.
	negativeTTL = 10 * time.Second
)

// Two caches, so that garbage can never push out a working sidecar's review:
//
//   - accepted holds reviews of tokens whose pod passed the trust check: only trusted sidecars
//     (a bounded, admin-controlled set of pods) can add to it;
//   - rejected holds everything else that cost a review: tokens the API server refused, and
//     tokens it accepted for pods that are not trusted sidecars (with their identity, so the pod
//     is checked again without another review).
//
// Tokens refused by precheck are not cached at all: refusing them costs no request.

type cacheEntry struct {
	caller Caller
	// err is the review's refusal; nil in accepted, and in rejected for a token whose review
	// passed but whose pod did not.
	err     error
	expires time.Time
}

// reviewCache maps sha256(token) to a review outcome. It holds at most size entries: when full it
// drops expired entries, then arbitrary ones (Go's map order), which bounds memory whatever the
// callers send.
type reviewCache struct {
	mu      sync.Mutex
	size    int
	entries map[[sha256.Size]byte]cacheEntry
	now     func() time.Time
}

func newReviewCache(size int, now func() time.Time) *reviewCache {
	return &reviewCache{size: size, entries: map[[sha256.Size]byte]cacheEntry{}, now: now}
}

func (c *reviewCache) get(token string) (cacheEntry, bool) {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return cacheEntry{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, k)
		return cacheEntry{}, false
	}
	return e, true
}

// putAccepted caches an accepted review until shortly before the token expires (read from the
// token, which the API server has just verified), at most maxPositiveTTL.
func (c *reviewCache) putAccepted(token string, caller Caller) {
	now := c.now()
	expires := now.Add(maxPositiveTTL)
	if exp, ok := tokenExpiry(token); ok && exp.Add(-expiryMargin).Before(expires) {
		expires = exp.Add(-expiryMargin)
	}
	if !expires.After(now) {
		return // about to expire: not worth caching
	}
	c.put(token, cacheEntry{caller: caller, expires: expires})
}

// putRejected caches a refusal (err != nil) or an identity whose pod was not trusted for
// negativeTTL.
func (c *reviewCache) putRejected(token string, caller Caller, err error) {
	c.put(token, cacheEntry{caller: caller, err: err, expires: c.now().Add(negativeTTL)})
}

func (c *reviewCache) put(token string, e cacheEntry) {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, exists := c.entries[k]; !exists && len(c.entries) >= c.size {
		c.evict(c.now())
	}
	c.entries[k] = e
}

func (c *reviewCache) delete(token string) {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}

// evict drops expired entries and, if that is not enough, arbitrary ones down to 3/4 of size.
func (c *reviewCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.size*3/4+1 {
			break
		}
		delete(c.entries, k)
	}
}

func (c *reviewCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// tokenExpiry reads the exp claim of a JWT without verifying it. It is only used for a token the
// API server has just accepted, to know how long that answer stays true.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(int64(*claims.Exp), 0), true
}
