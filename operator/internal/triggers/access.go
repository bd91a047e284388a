package triggers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
)

// This file decides where a trigger's query may go and what it may carry. An ElastiService is
// written by a namespace's user, and the operator sends the request with its own network
// position, so:
//
//   - the server is one the cluster admin chose: the operator's --prometheus-address, or one of
//     --prometheus-allowed-addresses. Anything else is an error before any request is sent;
//   - the request URL is built from the allowed base URL (the operator's string), never from the
//     user's, so a path, a query or user info cannot be smuggled in;
//   - headers are limited to AllowedHeaders (tenant headers); credentials come from a Secret the
//     Secret's owner marked for Elasti (LabelTriggerAuth), in the ElastiService's own namespace;
//   - redirects are not followed and answers are never echoed (see query).

// AllowedHeaders are the trigger headers the operator sends (canonical form): tenant headers of
// multi-tenant Prometheus-compatible servers. The CRD refuses others; this list is the operator's
// own check, for objects stored before that validation existed.
var AllowedHeaders = []string{"X-Scope-Orgid", "Thanos-Tenant"}

// LabelTriggerAuth marks a Secret that may be used as a trigger's authSecretRef. Without it the
// operator refuses the Secret, so an ElastiService author cannot make the operator send some
// other Secret of the namespace to a Prometheus server.
const LabelTriggerAuth = names.Group + "/trigger-auth"

// Secret keys of an authSecretRef.
const (
	SecretKeyBearerToken = "bearerToken"
	SecretKeyUsername    = "username"
	SecretKeyPassword    = "password"
)

// ErrNotAllowed wraps a trigger refused before any request: a server or header the operator does
// not allow.
var ErrNotAllowed = errors.New("not allowed")

// Servers is the set of Prometheus base URLs triggers may query. Build it with NewServers.
type Servers struct {
	def     *url.URL
	allowed map[string]*url.URL
	list    []string
}

// NewServers returns the allow-list: defaultAddress (--prometheus-address, may be empty) and
// allowed (--prometheus-allowed-addresses). Each must be an http(s) URL without user info, query
// or fragment.
func NewServers(defaultAddress string, allowed []string) (*Servers, error) {
	s := &Servers{allowed: map[string]*url.URL{}}
	for i, raw := range append([]string{defaultAddress}, allowed...) {
		if raw == "" {
			continue
		}
		u, err := parseBaseURL(raw)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			s.def = u
		}
		if _, dup := s.allowed[u.String()]; !dup {
			s.allowed[u.String()] = u
			s.list = append(s.list, u.String())
		}
	}
	slices.Sort(s.list)
	return s, nil
}

// parseBaseURL normalises a Prometheus base URL: scheme and host lower-case, no trailing slash.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		return nil, fmt.Errorf("prometheus address %q: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("prometheus address %q: the scheme must be http or https", raw)
	case u.Host == "":
		return nil, fmt.Errorf("prometheus address %q: no host", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("prometheus address %q: a base URL has no user info, query or fragment", raw)
	}
	return &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Path: strings.TrimRight(u.Path, "/")}, nil
}

// Resolve returns the allowed base URL that serverAddress names ("" is the default), or an error
// wrapping ErrNotAllowed. The returned URL is the operator's own, not a parse of the user's.
func (s *Servers) Resolve(serverAddress string) (*url.URL, error) {
	if serverAddress == "" {
		if s.def == nil {
			return nil, errors.New("no Prometheus address: set metadata.serverAddress or the operator's --prometheus-address")
		}
		return s.def, nil
	}
	u, err := parseBaseURL(serverAddress)
	if err == nil {
		if allowed, ok := s.allowed[u.String()]; ok {
			return allowed, nil
		}
	}
	return nil, fmt.Errorf("%w: serverAddress %q is not a Prometheus the operator may query; no request was sent. "+
		"Allowed: %s (the cluster admin sets them with the operator's --prometheus-address and --prometheus-allowed-addresses)",
		ErrNotAllowed, truncateString(serverAddress, 128), s.describe())
}

func (s *Servers) describe() string {
	if len(s.list) == 0 {
		return "none"
	}
	return strings.Join(s.list, ", ")
}

// checkHeaders refuses a header outside AllowedHeaders (before any request).
func checkHeaders(headers map[string]string) error {
	for k, v := range headers {
		if !slices.Contains(AllowedHeaders, http.CanonicalHeaderKey(k)) {
			return fmt.Errorf("%w: header %q; triggers may send only the tenant headers X-Scope-OrgID and THANOS-TENANT (credentials go in metadata.authSecretRef)",
				ErrNotAllowed, truncateString(k, 64))
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("%w: header %q: a value cannot contain a line break", ErrNotAllowed, k)
		}
	}
	return nil
}

// credentials returns the Authorization header value of ref, read from a Secret in namespace.
func credentials(ctx context.Context, secrets client.Reader, namespace string, ref *v1alpha1.SecretReference) (string, error) {
	if ref == nil {
		return "", nil
	}
	if secrets == nil {
		return "", fmt.Errorf("authSecretRef %s: the operator reads no Secrets", ref.Name)
	}
	sec := &corev1.Secret{}
	err := secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("authSecretRef: Secret %s/%s not found", namespace, ref.Name)
	case apierrors.IsForbidden(err):
		return "", fmt.Errorf("authSecretRef: the operator may not read Secrets in namespace %s; a cluster admin grants it with a RoleBinding there to the ClusterRole elasti-operator-trigger-auth (docs/operator.md)", namespace)
	case err != nil:
		return "", fmt.Errorf("authSecretRef: reading Secret %s/%s: %w", namespace, ref.Name, err)
	}
	if sec.Labels[LabelTriggerAuth] != "true" {
		return "", fmt.Errorf("authSecretRef: Secret %s/%s is not labelled %s=true; label it to let Elasti send it to Prometheus", namespace, ref.Name, LabelTriggerAuth)
	}
	token, user, pass := sec.Data[SecretKeyBearerToken], sec.Data[SecretKeyUsername], sec.Data[SecretKeyPassword]
	switch {
	case len(token) > 0 && len(user)+len(pass) == 0:
		return "Bearer " + strings.TrimSpace(string(token)), nil
	case len(token) == 0 && len(user) > 0:
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(string(user), string(pass))
		return r.Header.Get("Authorization"), nil
	default:
		return "", fmt.Errorf("authSecretRef: Secret %s/%s must hold either %s, or %s and %s", namespace, ref.Name,
			SecretKeyBearerToken, SecretKeyUsername, SecretKeyPassword)
	}
}

// noRedirects makes a client return a 3xx answer as it is (the query then fails with its status):
// a redirect would send the query, and its credentials, to an address nobody allowed.
func noRedirects(c *http.Client) *http.Client {
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
