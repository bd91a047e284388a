package main

import (
	"strings"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
)

// sidecarPort is the sidecar port allocated to the Service port of that name (0: none).
func sidecarPort(ports []elastiv1.SidecarPort, name string) int32 {
	for _, p := range ports {
		if p.Name == name {
			return p.SidecarPort
		}
	}
	return 0
}

// firstAnswers are the demo app's log lines about its first answer.
func firstAnswers(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "first answer") {
			out = append(out, l)
		}
	}
	return out
}
