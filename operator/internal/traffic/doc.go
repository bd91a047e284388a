// Package traffic measures the requests the resolver sidecars forward, for the traffic trigger:
// a trigger that needs nothing but Elasti to tell a busy service from an idle one.
//
// While a Service is in proxy mode with its pods serving (an observation), every sidecar counts
// the requests it forwards at once and reports the count with its activity reports
// (RequestCount.Forwarded), at most once a second per service. Whichever operator replica
// receives a report adds it to its Ledger, which writes the replica's running totals to a Lease of
// its own (one writer per Lease, no conflicts) at most once per flush interval. The leader's Meter
// reads every replica's Lease, turns the totals into one count per service that only grows (a
// replica that restarts or drops a total does not make it go back) and measures rates over a
// window. Decide is the traffic trigger's policy as a pure function of what was measured.
package traffic
