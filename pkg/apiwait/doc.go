// Package apiwait lets a component start while the API server is away.
//
// The operator and the webhook each ask the API server something before their manager runs (the
// operator its REST mappings, the webhook its version). When the API server is restarting, that
// first question fails; exiting then turns one short outage into a crash loop whose back-off
// (10 s, 20 s, 40 s, ...) outlasts the outage: a leader that lost its lease during an API server
// restart exits by design, and its replacement must not exit again because the API server is
// still coming back. Version asks for the version until it answers, with a bounded wait, and gives
// up at once on what waiting cannot fix (a certificate that does not verify, a rejected token).
// WithProbes answers the liveness probe meanwhile: a process that waits is alive, and the kubelet
// must not kill it for having no health endpoint yet (the manager serves them once it starts).
package apiwait
