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

type cacheEntry struct {
	caller  Caller
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

func newReviewCache(size int) *reviewCache {
	return &reviewCache{size: size, entries: map[[sha256.Size]byte]cacheEntry{}, now: time.Now}
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

func (c *reviewCache) put(token string, caller Caller, err error) {
	now := c.now()
	expires := now.Add(negativeTTL)
	if err == nil {
		expires = now.Add(maxPositiveTTL)
		if exp, ok := tokenExpiry(token); ok && exp.Add(-expiryMargin).Before(expires) {
			expires = exp.Add(-expiryMargin)
		}
		if !expires.After(now) {
			return // about to expire: not worth caching
		}
	}
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		c.evict(now)
	}
	c.entries[k] = cacheEntry{caller: caller, err: err, expires: expires}
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
