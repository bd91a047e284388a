package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Before a token costs a TokenReview (a write to the API server), it must look like what the
// kubelet projects into a sidecar: a JWT for our audience that has not expired. Anyone can send
// any string, so this check is what keeps garbage from reaching the API server at all; a forger
// can still craft a JWT that passes it (the signature is not checked here), which is why reviews
// are also rate-limited (Options.ReviewsPerSecond).
//
// The claims read here are unverified. They are used only to refuse, never to accept, to identify
// the caller, or to decide anything else: the caller's identity comes from the TokenReview.

const (
	// maxTokenBytes: a projected ServiceAccount token is about 1 KiB.
	maxTokenBytes = 8 << 10
	// expiryLeeway tolerates clock skew between the operator and the API server, so that a token
	// the API server would still accept is never refused here.
	expiryLeeway = time.Minute
)

// Reasons a token is refused before review (the label of elasti_operator_signin_rejections_total).
const (
	rejectMalformed = "malformed"
	rejectAudience  = "audience"
	rejectExpired   = "expired"
	rejectThrottled = "throttled"
)

// precheckError is a token refused before review; reason is a metric label.
type precheckError struct {
	reason string
	msg    string
}

func (e *precheckError) Error() string { return ErrUnauthenticated.Error() + ": " + e.msg }
func (e *precheckError) Unwrap() error { return ErrUnauthenticated }

type jwtHeader struct {
	Alg string `json:"alg"`
}

type jwtClaims struct {
	Aud audience `json:"aud"`
	Exp *float64 `json:"exp"`
}

// audience is the aud claim: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor a list of strings")
	}
	*a = many
	return nil
}

// precheck refuses, without any request, a token that is not a well-formed JWT, is not for
// audience, or has expired (beyond expiryLeeway).
func precheck(token, wantAudience string, now time.Time) error {
	malformed := func(what string) error {
		return &precheckError{rejectMalformed, "token is not a JWT (" + what + "); send the projected ServiceAccount token"}
	}
	if len(token) > maxTokenBytes {
		return malformed("too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return malformed("not three dot-separated parts")
	}
	var hdr jwtHeader
	if err := decodeSegment(parts[0], &hdr); err != nil || hdr.Alg == "" || strings.EqualFold(hdr.Alg, "none") {
		return malformed("bad header")
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return malformed("bad signature encoding")
	}
	var claims jwtClaims
	if err := decodeSegment(parts[1], &claims); err != nil {
		return malformed("bad claims")
	}
	if !slices.Contains(claims.Aud, wantAudience) {
		return &precheckError{rejectAudience, fmt.Sprintf("token audience is not %q", wantAudience)}
	}
	if claims.Exp == nil {
		return &precheckError{rejectExpired, "token has no expiry; send the projected ServiceAccount token"}
	}
	if exp := time.Unix(int64(*claims.Exp), 0); now.After(exp.Add(expiryLeeway)) {
		return &precheckError{rejectExpired, "token has expired"}
	}
	return nil
}

// decodeSegment base64url-decodes a JWT segment (padding tolerated) into a JSON object.
func decodeSegment(seg string, into any) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	if len(raw) == 0 || raw[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	return json.Unmarshal(raw, into)
}
