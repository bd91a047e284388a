package v1alpha1

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/utils/ptr"
)

func TestThresholdValue(t *testing.T) {
	tests := []struct {
		raw     string
		want    float64
		wantErr string
	}{
		{raw: `1`, want: 1},
		{raw: `0.5`, want: 0.5},
		{raw: `"0.5"`, want: 0.5},
		{raw: `" 2e3 "`, want: 2000},
		{raw: `"lots"`, wantErr: `threshold "lots" is not a number`},
		{raw: `{"a":1}`, wantErr: "must be a number or a string holding a number"},
		{raw: `true`, wantErr: "must be a number or a string holding a number"},
		{raw: ``, wantErr: "threshold is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			m := TriggerMetadata{}
			if tt.raw != "" {
				m.Threshold = &apiextensionsv1.JSON{Raw: []byte(tt.raw)}
			}
			got, err := m.ThresholdValue()
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSpecDefaults(t *testing.T) {
	var s ElastiServiceSpec
	assert.Equal(t, DefaultCooldownPeriod, s.Cooldown())
	assert.Equal(t, int32(1), s.MinReplicas())
	s.CooldownPeriod = ptr.To[int32](0)
	s.MinTargetReplicas = 3
	assert.Zero(t, s.Cooldown())
	assert.Equal(t, int32(3), s.MinReplicas())
}
