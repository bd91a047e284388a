// Package triggers decides whether an ElastiService's target is idle, and whether the current
// time is inside its enabledPeriod. The reconciler (on the leader) calls Evaluator.Idle every
// polling interval and scales down only after Idle has said true, without error, for the whole
// cooldown; it calls InEnabledPeriod to limit scale-downs to a recurring window.
//
// The rule throughout is that doubt never scales anything down: an unreachable Prometheus, an
// error answer, an empty or NaN result, a Prometheus that has just restarted (and so has no
// history to judge idleness by) all return an error, and an error means "not idle".
package triggers
