//go:build ignore

// This file is not part of Elasti's build. hack/traefik/build.sh copies it (without the build
// constraint above) into its patched copy of Traefik, next to pkg/middlewares/auth/basic_auth.go.
//
// Traefik's basic-auth middleware calls CheckSecret from its fork of go-http-auth, which the Go
// module proxy refuses. The upstream module it forked, github.com/abbot/go-http-auth v0.4.0, has
// no such function: it compares a password with an htpasswd secret only inside
// (*BasicAuth).CheckAuth. checkSecret is that comparison on its own, built from v0.4.0's exported
// MD5Crypt and the same rules: the secret's prefix picks the scheme ("{SHA}" SHA-1, "$2a$",
// "$2b$", "$2x$", "$2y$" bcrypt), anything else is an Apache MD5 crypt "$apr1$salt$hash".

package auth

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	goauth "github.com/abbot/go-http-auth"
	"golang.org/x/crypto/bcrypt"
)

// checkSecret reports whether password matches the htpasswd secret.
func checkSecret(password, secret string) bool {
	switch {
	case strings.HasPrefix(secret, "{SHA}"):
		sum := sha1.Sum([]byte(password))
		want := base64.StdEncoding.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(secret[len("{SHA}"):]), []byte(want)) == 1
	case strings.HasPrefix(secret, "$2a$"), strings.HasPrefix(secret, "$2b$"),
		strings.HasPrefix(secret, "$2x$"), strings.HasPrefix(secret, "$2y$"):
		return bcrypt.CompareHashAndPassword([]byte(secret), []byte(password)) == nil
	default:
		// "$magic$salt$hash": MD5Crypt recomputes the whole string from the magic and the salt.
		parts := strings.SplitN(secret, "$", 4)
		if len(parts) != 4 {
			return false
		}
		got := goauth.MD5Crypt([]byte(password), []byte(parts[2]), []byte("$"+parts[1]+"$"))
		return subtle.ConstantTimeCompare([]byte(secret), got) == 1
	}
}
