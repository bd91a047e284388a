package inject

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/elasti-dev/elasti/pkg/names"
)

// Policy for bad override values (documented in docs/webhook.md): a value that does not parse or
// is out of range is reported (a warning in the AdmissionResponse and an Event) and that one field
// falls back to its default; injection proceeds. Skipping the whole sidecar for a typo in a log
// level would leave a gateway without the resolver, which is worse than a default.

// Params are the effective per-pod sidecar settings: the Config defaults with valid overrides
// applied.
type Params struct {
	Image         string
	ProxyPort     int32
	AdminPort     int32
	CPURequest    resource.Quantity
	MemoryRequest resource.Quantity
	MemoryLimit   resource.Quantity
	LogLevel      string
}

// Problem is one rejected override.
type Problem struct {
	Annotation string
	Value      string
	Expected   string
}

func (p Problem) String() string {
	return fmt.Sprintf("annotation %s=%q ignored: expected %s; using the default", p.Annotation, Truncate(p.Value, 64), p.Expected)
}

// LogLevels are the values --log-level accepts.
var LogLevels = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}

// imageRef is a permissive container image reference: registry/path[:tag][@digest].
var imageRef = regexp.MustCompile(`^[a-z0-9]([A-Za-z0-9._\-/:]*[A-Za-z0-9_])?(@sha256:[a-f0-9]{64})?$`)

const (
	minPort = 1024 // the sidecar runs as non-root
	maxPort = 65535
)

// ParseOverrides applies the per-pod override annotations to cfg's defaults.
func ParseOverrides(annotations map[string]string, cfg *Config) (Params, []Problem) {
	p := Params{
		Image: cfg.Image, ProxyPort: cfg.ProxyPort, AdminPort: cfg.AdminPort, CPURequest: cfg.CPURequest,
		MemoryRequest: cfg.MemoryRequest, MemoryLimit: cfg.MemoryLimit, LogLevel: cfg.LogLevel,
	}
	var probs []Problem
	report := func(key, expected string) {
		probs = append(probs, Problem{Annotation: key, Value: annotations[key], Expected: expected})
	}
	if v, ok := annotations[names.AnnotationSidecarImage]; ok {
		if ParseImage(v) {
			p.Image = v
		} else {
			report(names.AnnotationSidecarImage, "an image reference such as registry.example/elasti/resolver:v1")
		}
	}
	parsePorts(annotations, cfg, &p, report)
	parseResources(annotations, &p, report)
	if v, ok := annotations[names.AnnotationSidecarLogLevel]; ok {
		if LogLevels[v] {
			p.LogLevel = v
		} else {
			report(names.AnnotationSidecarLogLevel, "one of debug, info, warn, error")
		}
	}
	return p, probs
}

// parsePorts applies the port overrides; two equal ports both fall back to the defaults.
func parsePorts(annotations map[string]string, cfg *Config, p *Params, report func(string, string)) {
	proxy := parseOverridePort(annotations, names.AnnotationSidecarProxyPort, p.ProxyPort, report)
	admin := parseOverridePort(annotations, names.AnnotationSidecarAdminPort, p.AdminPort, report)
	if proxy == admin {
		key := names.AnnotationSidecarProxyPort
		if _, ok := annotations[key]; !ok {
			key = names.AnnotationSidecarAdminPort
		}
		report(key, "a port different from the sidecar's other port")
		proxy, admin = cfg.ProxyPort, cfg.AdminPort
	}
	p.ProxyPort, p.AdminPort = proxy, admin
}

// parseResources applies the CPU request and memory limit overrides.
func parseResources(annotations map[string]string, p *Params, report func(string, string)) {
	if v, ok := annotations[names.AnnotationSidecarCPU]; ok {
		if q, err := ParsePositiveQuantity(v); err == nil {
			p.CPURequest = q
		} else {
			report(names.AnnotationSidecarCPU, "a positive CPU quantity such as 50m")
		}
	}
	if v, ok := annotations[names.AnnotationSidecarMemory]; ok {
		if q, err := ParsePositiveQuantity(v); err == nil {
			p.MemoryLimit = q
			if q.Cmp(p.MemoryRequest) < 0 {
				p.MemoryRequest = q
			}
		} else {
			report(names.AnnotationSidecarMemory, "a positive memory quantity such as 256Mi")
		}
	}
}

// parseOverridePort returns the port from annotation key, or def when it is absent or bad.
func parseOverridePort(annotations map[string]string, key string, def int32, report func(string, string)) int32 {
	v, ok := annotations[key]
	if !ok {
		return def
	}
	n, err := ParsePort(v)
	if err != nil {
		report(key, fmt.Sprintf("a port number between %d and %d", minPort, maxPort))
		return def
	}
	return n
}

// ParsePort parses a sidecar port annotation.
func ParsePort(v string) (int32, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("parsing port %q: %w", Truncate(v, 64), err)
	}
	if n < minPort || n > maxPort {
		return 0, fmt.Errorf("port %d out of range %d-%d", n, minPort, maxPort)
	}
	return int32(n), nil
}

// ParsePositiveQuantity parses a resource quantity that must be greater than zero.
func ParsePositiveQuantity(v string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("parsing quantity %q: %w", Truncate(v, 64), err)
	}
	if q.Sign() <= 0 {
		return resource.Quantity{}, fmt.Errorf("quantity %q is not positive", v)
	}
	return q, nil
}

// ParseImage reports whether v looks like an image reference.
func ParseImage(v string) bool {
	return len(v) <= 512 && imageRef.MatchString(v) && !strings.Contains(v, "//") && !strings.Contains(v, "::")
}

// Truncate shortens s to at most n bytes plus "...", without cutting a UTF-8 character in half.
// User-supplied values quoted in messages and Events go through it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
