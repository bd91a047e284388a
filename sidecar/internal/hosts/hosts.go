package hosts

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxLen bounds the authority the parser accepts (a DNS name is at most 253 bytes; the rest is
// room for a port and brackets).
const MaxLen = 263

// ErrInvalid wraps every parse error.
var ErrInvalid = errors.New("invalid host")

// Authority is a parsed request authority.
type Authority struct {
	// Name is the lowercase DNS name without a trailing dot; empty when the authority is an IP.
	Name string
	// IP is set when the authority is an IPv4 or IPv6 address (brackets removed, zone rejected).
	IP netip.Addr
	// Port is the port named in the authority, 0 when there is none.
	Port int
}

// IsIP reports whether the authority is an address rather than a name.
func (a Authority) IsIP() bool { return a.IP.IsValid() }

// String formats the authority back as host[:port], bracketing IPv6 addresses.
func (a Authority) String() string {
	host := a.Name
	if a.IsIP() {
		host = a.IP.String()
		if a.IP.Is6() {
			host = "[" + host + "]"
		}
	}
	if a.Port == 0 {
		return host
	}
	return host + ":" + strconv.Itoa(a.Port)
}

// Parse parses "host", "host:port", "1.2.3.4", "1.2.3.4:80", "[::1]", "[::1]:80" or a bare IPv6
// address. Names are lowercased and a single trailing dot is removed.
func Parse(s string) (Authority, error) {
	if s == "" {
		return Authority{}, fmt.Errorf("%w: empty; expected a Service name such as orders.shop.svc or a ClusterIP", ErrInvalid)
	}
	if len(s) > MaxLen {
		return Authority{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLen)
	}
	if s[0] == '[' {
		return parseBracketed(s)
	}
	if strings.Count(s, ":") > 1 {
		// A bare IPv6 address (RFC 7230 requires brackets, but some clients omit them when no
		// port follows).
		return parseIP(s, 0)
	}
	host, portStr, hasPort := strings.Cut(s, ":")
	port := 0
	if hasPort {
		p, err := parsePort(portStr)
		if err != nil {
			return Authority{}, err
		}
		port = p
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil {
		if !ip.Is4() {
			return Authority{}, fmt.Errorf("%w: %q: IPv6 addresses must be bracketed when a port follows", ErrInvalid, s)
		}
		return Authority{IP: ip, Port: port}, nil
	}
	name, err := parseName(host)
	if err != nil {
		return Authority{}, err
	}
	return Authority{Name: name, Port: port}, nil
}

func parseBracketed(s string) (Authority, error) {
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return Authority{}, fmt.Errorf("%w: %q: missing ']'", ErrInvalid, s)
	}
	port := 0
	switch rest := s[end+1:]; {
	case rest == "":
	case rest[0] == ':':
		p, err := parsePort(rest[1:])
		if err != nil {
			return Authority{}, err
		}
		port = p
	default:
		return Authority{}, fmt.Errorf("%w: %q: unexpected text after ']'", ErrInvalid, s)
	}
	if !strings.Contains(s[1:end], ":") {
		return Authority{}, fmt.Errorf("%w: %q: only IPv6 addresses are bracketed", ErrInvalid, s)
	}
	return parseIP(s[1:end], port)
}

func parseIP(s string, port int) (Authority, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return Authority{}, fmt.Errorf("%w: %q is not an IP address", ErrInvalid, s)
	}
	if ip.Zone() != "" {
		return Authority{}, fmt.Errorf("%w: %q: zoned addresses are not Service IPs", ErrInvalid, s)
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	return Authority{IP: ip, Port: port}, nil
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("%w: port %q must be a number from 1 to 65535", ErrInvalid, s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: port %q must be a number from 1 to 65535", ErrInvalid, s)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%w: port %q must be a number from 1 to 65535", ErrInvalid, s)
	}
	return n, nil
}

// parseName checks a DNS name (labels of letters, digits, '-' and '_', at most 63 bytes each)
// and returns it lowercased without a trailing dot.
func parseName(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return "", fmt.Errorf("%w: %q is not a DNS name", ErrInvalid, s)
	}
	label := 0
	lower := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", fmt.Errorf("%w: %q has an empty label", ErrInvalid, s)
			}
			label = 0
			continue
		case c >= 'A' && c <= 'Z':
			lower = false
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "", fmt.Errorf("%w: %q contains %q; expected letters, digits, '-' and '.'", ErrInvalid, s, c)
		}
		label++
		if label > 63 {
			return "", fmt.Errorf("%w: %q has a label longer than 63 bytes", ErrInvalid, s)
		}
	}
	if label == 0 {
		return "", fmt.Errorf("%w: %q has an empty label", ErrInvalid, s)
	}
	if !lower {
		s = strings.ToLower(s)
	}
	return s, nil
}
