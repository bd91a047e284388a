package inject

import (
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/elasti-dev/elasti/pkg/names"
)

// statusVersion is bumped when the meaning of Status changes.
const statusVersion = 1

// maxStatusBytes bounds the status annotation we are willing to parse.
const maxStatusBytes = 4096

// Status is the value of names.AnnotationSidecarStatus: exactly what the webhook added, so that
// a reinvocation can strip it and inject again.
type Status struct {
	Version        int      `json:"version"`
	Containers     []string `json:"containers,omitempty"`
	InitContainers []string `json:"initContainers,omitempty"`
	Volumes        []string `json:"volumes,omitempty"`
	Labels         []string `json:"labels,omitempty"`
}

// ParseStatus parses a status annotation strictly.
func ParseStatus(v string) (*Status, error) {
	if len(v) > maxStatusBytes {
		return nil, fmt.Errorf("status annotation is %d bytes, more than %d", len(v), maxStatusBytes)
	}
	var s Status
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", names.AnnotationSidecarStatus, err)
	}
	if s.Version != statusVersion {
		return nil, fmt.Errorf("%s has version %d, want %d", names.AnnotationSidecarStatus, s.Version, statusVersion)
	}
	return &s, nil
}

func (s *Status) encode() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("marshalling sidecar status: %v", err)) // only []string fields: cannot fail
	}
	return string(b)
}

// strip removes from pod what its status annotation lists, and the annotation itself. It returns
// a warning when an annotation was present but could not be parsed (then nothing else is removed,
// and the truth table decides whether a leftover sidecar container means "already injected").
func strip(pod *corev1.Pod) (stripped bool, warning string) {
	raw, ok := pod.Annotations[names.AnnotationSidecarStatus]
	if !ok {
		return false, ""
	}
	delete(pod.Annotations, names.AnnotationSidecarStatus)
	st, err := ParseStatus(raw)
	if err != nil {
		return false, fmt.Sprintf("ignoring %s: %v", names.AnnotationSidecarStatus, err)
	}
	pod.Spec.Containers = slices.DeleteFunc(pod.Spec.Containers, func(c corev1.Container) bool {
		return slices.Contains(st.Containers, c.Name)
	})
	pod.Spec.InitContainers = slices.DeleteFunc(pod.Spec.InitContainers, func(c corev1.Container) bool {
		return slices.Contains(st.InitContainers, c.Name)
	})
	pod.Spec.Volumes = slices.DeleteFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return slices.Contains(st.Volumes, v.Name)
	})
	for _, l := range st.Labels {
		delete(pod.Labels, l)
	}
	return true, ""
}

// apply adds the sidecar, its volume, the resolver label and the status annotation to pod.
func apply(pod *corev1.Pod, cfg *Config, p *Params) {
	st := Status{Version: statusVersion, Volumes: []string{names.SidecarTokenVolume}}
	c := sidecarContainer(cfg, p)
	if cfg.NativeSidecar {
		// First, so that it is running before any other init container and the app start.
		pod.Spec.InitContainers = append([]corev1.Container{c}, pod.Spec.InitContainers...)
		st.InitContainers = []string{c.Name}
	} else {
		// Last, so that `kubectl logs/exec` keep defaulting to the gateway's own container.
		pod.Spec.Containers = append(pod.Spec.Containers, c)
		st.Containers = []string{c.Name}
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, tokenVolume(cfg))
	if pod.Spec.ServiceAccountName == "" {
		// The API server rejects a projected token without a ServiceAccount. The ServiceAccount
		// admission plugin normally sets "default" before webhooks run; do the same where it is
		// disabled. Idempotent, so it is not listed in the status.
		pod.Spec.ServiceAccountName = "default"
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	if _, had := pod.Labels[names.LabelResolver]; !had {
		st.Labels = []string{names.LabelResolver}
	}
	pod.Labels[names.LabelResolver] = "true"
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[names.AnnotationSidecarStatus] = st.encode()
}
