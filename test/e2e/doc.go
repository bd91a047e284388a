// Package e2e is Elasti's end-to-end suite (build tag e2e): it drives a real cluster with Elasti
// installed and the images loaded, and asserts what a user would see. Each test creates its own
// namespace and removes it. `make test-e2e` runs it; docs/e2e.md describes every scenario, the
// environment variables and how to run it on kind.
package e2e
