package framework

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithFlags(t *testing.T) {
	got := withFlags([]string{"--leader-elect", "--poll-interval=30s", "--zap-encoder=json", "positional"},
		map[string]string{"poll-interval": "2s", "prometheus-allowed-addresses": "http://p:9090"})
	assert.Equal(t, []string{"--leader-elect", "--zap-encoder=json", "positional", "--poll-interval=2s", "--prometheus-allowed-addresses=http://p:9090"}, got)
	assert.Equal(t, got, withFlags(got, map[string]string{"poll-interval": "2s", "prometheus-allowed-addresses": "http://p:9090"}), "no change, no rollout")
}
