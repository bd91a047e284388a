// Package report is the resolver's operator client: its Client tells the operator's elastiserver
// that requests for a service are waiting (messages.RequestCount POSTed to
// stream.IncomingRequestPath) so that the operator scales the target up from zero.
//
// Reports are de-duplicated per namespace/service: at most one is in flight for a service, and
// while requests still wait the client keeps reporting (retrying failures with backoff, and
// repeating successes at a slower pace in case the operator lost them). For a service in proxy
// mode whose requests are forwarded at once, an activity report is sent at most once per
// interval so that the operator can cancel a scale-down in progress.
package report
