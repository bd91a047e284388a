package webhook

import "flag"

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("webhook", flag.ContinueOnError) }
