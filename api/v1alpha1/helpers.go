package v1alpha1

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultCooldownPeriod is used when spec.cooldownPeriod is unset (the schema defaults it too).
const DefaultCooldownPeriod = 900 * time.Second

// Cooldown returns spec.cooldownPeriod as a duration.
func (s *ElastiServiceSpec) Cooldown() time.Duration {
	if s.CooldownPeriod == nil {
		return DefaultCooldownPeriod
	}
	return time.Duration(*s.CooldownPeriod) * time.Second
}

// MinReplicas returns spec.minTargetReplicas, at least 1.
func (s *ElastiServiceSpec) MinReplicas() int32 {
	if s.MinTargetReplicas < 1 {
		return 1
	}
	return s.MinTargetReplicas
}

// WakeReplicas is how many replicas a wake-up scales the target to when held requests are held
// for it by the sidecars at once: MinReplicas without spec.wakeBurst, else
// ceil(held / requestsPerReplica) bounded by MinReplicas and maxReplicas.
func (s *ElastiServiceSpec) WakeReplicas(held int) int32 {
	lo := s.MinReplicas()
	b := s.WakeBurst
	if b == nil || b.RequestsPerReplica < 1 || held <= 0 {
		return lo
	}
	n := (int64(held) + int64(b.RequestsPerReplica) - 1) / int64(b.RequestsPerReplica)
	hi := int64(max(b.MaxReplicas, lo))
	return int32(max(int64(lo), min(n, hi)))
}

// ThresholdValue returns the trigger's threshold as a float, accepting a JSON number or a string
// holding one.
func (m *TriggerMetadata) ThresholdValue() (float64, error) {
	if m.Threshold == nil || len(m.Threshold.Raw) == 0 {
		return 0, fmt.Errorf("threshold is not set")
	}
	var v any
	if err := json.Unmarshal(m.Threshold.Raw, &v); err != nil {
		return 0, fmt.Errorf("threshold %s is not valid JSON: %w", m.Threshold.Raw, err)
	}
	switch t := v.(type) {
	case float64:
		return t, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil {
			return 0, fmt.Errorf("threshold %q is not a number", t)
		}
		return f, nil
	default:
		return 0, fmt.Errorf("threshold %s must be a number or a string holding a number", m.Threshold.Raw)
	}
}

// ConditionStatus returns the status of the condition of the given type, or "Unknown".
func (s *ElastiServiceStatus) ConditionStatus(condType string) string {
	for _, c := range s.Conditions {
		if c.Type == condType {
			return string(c.Status)
		}
	}
	return "Unknown"
}

// Claimant returns the ElastiService that manages a Service among those that name it: the oldest,
// then the first by name. Every operator replica and every part of it (controller, scale-down
// loop, elastiserver) picks the same one; the others do nothing until it is gone. Nil when the
// list is empty.
func Claimant(named []ElastiService) *ElastiService {
	var found *ElastiService
	for i := range named {
		es := &named[i]
		if found == nil || es.CreationTimestamp.Before(&found.CreationTimestamp) ||
			(es.CreationTimestamp.Equal(&found.CreationTimestamp) && es.Name < found.Name) {
			found = es
		}
	}
	return found
}

// SidecarPortFor returns the sidecar port allocated to the Service port with this name.
func (st *ElastiServiceStatus) SidecarPortFor(name string) (int32, bool) {
	for _, p := range st.SidecarPorts {
		if p.Name == name && p.SidecarPort > 0 {
			return p.SidecarPort, true
		}
	}
	return 0, false
}

// DefaultTrafficWindow is a traffic trigger's window when metadata.window is unset.
const DefaultTrafficWindow = time.Minute

// TrafficTrigger returns the ElastiService's traffic trigger, nil when it has none.
func (s *ElastiServiceSpec) TrafficTrigger() *ScaleTrigger {
	for i := range s.Triggers {
		if s.Triggers[i].Type == TriggerTypeTraffic {
			return &s.Triggers[i]
		}
	}
	return nil
}

// TrafficThreshold returns a traffic trigger's threshold in requests per second: 0 when unset,
// an error when it is not a number or is negative.
func (m *TriggerMetadata) TrafficThreshold() (float64, error) {
	if m.Threshold == nil || len(m.Threshold.Raw) == 0 {
		return 0, nil
	}
	v, err := m.ThresholdValue()
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("threshold %v must not be negative (requests per second)", v)
	}
	return v, nil
}

// TrafficWindow returns a traffic trigger's window: DefaultTrafficWindow when unset, an error
// when it is not a duration between 1s and 1h (the schema checks the same).
func (m *TriggerMetadata) TrafficWindow() (time.Duration, error) {
	if m.Window == "" {
		return DefaultTrafficWindow, nil
	}
	d, err := time.ParseDuration(m.Window)
	if err != nil {
		return 0, fmt.Errorf("window %q is not a Go duration such as 30s or 5m", m.Window)
	}
	if d < time.Second || d > time.Hour {
		return 0, fmt.Errorf("window %s must be between 1s and 1h", d)
	}
	return d, nil
}
