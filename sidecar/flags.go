package sidecar

import "flag"

// newFlagSet returns an empty flag set for BindFlags in tests and tools.
func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("sidecar", flag.ContinueOnError) }

// DefaultConfig returns the configuration every flag defaults to.
func DefaultConfig() Config {
	var c Config
	c.BindFlags(newFlagSet())
	return c
}
