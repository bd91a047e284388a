package traffic

import (
	"fmt"
	"time"
)

// Input is everything the traffic trigger's decision depends on, for one ElastiService at one
// look of the leader.
type Input struct {
	// Now is the time of the look.
	Now time.Time
	// Cooldown is spec.cooldownPeriod.
	Cooldown time.Duration
	// Threshold: the service is active while its rate is above it (requests per second).
	Threshold float64
	// OthersIdle: every other trigger says idle (true when there are none).
	OthersIdle bool
	// Serving: the target has replicas and a ready pod; an observation needs one, since the
	// sidecars forward its requests at once.
	Serving bool
	// SidecarsReady: at least one resolver sidecar can take the Service's traffic.
	SidecarsReady bool
	// LastActive is the latest sign of activity: this trigger's, another trigger's, a scale-up
	// from zero, or the moment this leader started.
	LastActive time.Time
	// ObservingSince is when the running observation started; zero when none runs.
	ObservingSince time.Time
	// Rate is the request rate measured during the observation (ignored when none runs).
	Rate float64
}

// Action is what the leader does next.
type Action int

const (
	// Wait: serve mode, and not yet time to observe (or no observation is possible).
	Wait Action = iota
	// Observe: start an observation (switch the Service to proxy mode, pods still serving).
	Observe
	// KeepObserving: the rate is at or below the threshold; keep counting.
	KeepObserving
	// Active: the service is busy; end the observation and return to serve mode.
	Active
	// Stop: end the observation without a verdict (the target or the sidecars went away).
	Stop
	// ScaleToZero: idle for the whole cooldown period; scale the target to zero (the Service is
	// in proxy mode already).
	ScaleToZero
)

func (a Action) String() string {
	return [...]string{"Wait", "Observe", "KeepObserving", "Active", "Stop", "ScaleToZero"}[a]
}

// Decision is an Action and why.
type Decision struct {
	Action Action
	// Next is, for Wait, when the next observation is due (zero when none can be planned).
	Next time.Time
	// Reason says why, in words for Events and logs.
	Reason string
}

// Decide is the traffic trigger's whole policy. Serve mode tells Elasti nothing about traffic,
// so an idle verdict takes an observation as long as the cooldown:
//
//	not observing, another trigger active        → Wait (the caller records the activity)
//	not observing, active within the cooldown    → Wait until LastActive + Cooldown
//	not observing, no sidecar or target serving  → Wait (no observation possible)
//	not observing, otherwise                     → Observe
//	observing, another trigger active            → Active
//	observing, target not serving / no sidecar   → Stop
//	observing, rate above the threshold          → Active
//	observing for the whole cooldown             → ScaleToZero
//	observing, otherwise                         → KeepObserving
func Decide(in Input) Decision {
	if in.ObservingSince.IsZero() {
		next := in.LastActive.Add(in.Cooldown)
		switch {
		case !in.OthersIdle:
			return Decision{Action: Wait, Next: in.Now.Add(in.Cooldown), Reason: "another trigger says active"}
		case in.Now.Before(next):
			return Decision{Action: Wait, Next: next, Reason: fmt.Sprintf("active %s ago, less than the cooldown period of %s", in.Now.Sub(in.LastActive).Round(time.Second), in.Cooldown)}
		case !in.Serving:
			return Decision{Action: Wait, Reason: "the target has no ready pod to forward requests to while counting them"}
		case !in.SidecarsReady:
			return Decision{Action: Wait, Reason: "no ready resolver sidecar could count the requests"}
		default:
			return Decision{Action: Observe, Reason: fmt.Sprintf("no activity seen for the cooldown period of %s: counting requests in proxy mode", in.Cooldown)}
		}
	}
	rate := FormatRate(in.Rate)
	switch {
	case !in.OthersIdle:
		return Decision{Action: Active, Reason: "another trigger says active"}
	case !in.Serving:
		return Decision{Action: Stop, Reason: "the target has no ready pod any more"}
	case !in.SidecarsReady:
		return Decision{Action: Stop, Reason: "no ready resolver sidecar is left to count requests"}
	case in.Rate > in.Threshold:
		return Decision{Action: Active, Reason: fmt.Sprintf("%s requests/s observed, above the threshold of %s", rate, FormatRate(in.Threshold))}
	case in.Now.Sub(in.ObservingSince) >= in.Cooldown:
		return Decision{Action: ScaleToZero, Reason: fmt.Sprintf("%s requests/s (threshold %s) for the cooldown period of %s", rate, FormatRate(in.Threshold), in.Cooldown)}
	default:
		return Decision{Action: KeepObserving, Reason: fmt.Sprintf("%s requests/s, at or below the threshold of %s", rate, FormatRate(in.Threshold))}
	}
}

// FormatRate writes a rate the way status.traffic.observedRate shows it: at most three
// significant digits ("0", "0.25", "12.3", "1500").
func FormatRate(r float64) string {
	switch {
	case r == 0:
		return "0"
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	default:
		return fmt.Sprintf("%.3g", r)
	}
}
