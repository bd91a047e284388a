package v1alpha1

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func TestWakeReplicas(t *testing.T) {
	burst := func(rpr, maxReplicas int32) *WakeBurst {
		return &WakeBurst{RequestsPerReplica: rpr, MaxReplicas: maxReplicas}
	}
	for _, tt := range []struct {
		name  string
		min   int32
		burst *WakeBurst
		held  int
		want  int32
	}{
		{"no wakeBurst: minTargetReplicas", 2, nil, 500, 2},
		{"no wakeBurst, unset minimum: 1", 0, nil, 500, 1},
		{"nothing held: the minimum", 1, burst(10, 5), 0, 1},
		{"one request: the minimum", 1, burst(10, 5), 1, 1},
		{"exactly one replica's worth", 1, burst(10, 5), 10, 1},
		{"one more rounds up", 1, burst(10, 5), 11, 2},
		{"capped by maxReplicas", 1, burst(10, 5), 1000, 5},
		{"never below minTargetReplicas", 3, burst(10, 5), 12, 3},
		{"a maxReplicas below the minimum (refused by the schema) yields the minimum", 4, burst(10, 2), 100, 4},
		{"one request per replica", 1, burst(1, 50), 37, 37},
		{"huge counts do not overflow", 1, burst(1, 10000), 1 << 40, 10000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := ElastiServiceSpec{MinTargetReplicas: tt.min, WakeBurst: tt.burst}
			assert.Equal(t, tt.want, s.WakeReplicas(tt.held))
		})
	}
}

func TestClaimantIsTheOldestThenTheFirstByName(t *testing.T) {
	at := func(name string, sec int64) ElastiService {
		return ElastiService{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Unix(sec, 0)}}
	}
	assert.Nil(t, Claimant(nil))
	assert.Equal(t, "old", Claimant([]ElastiService{at("young", 20), at("old", 10), at("mid", 15)}).Name)
	assert.Equal(t, "a", Claimant([]ElastiService{at("b", 10), at("c", 10), at("a", 10)}).Name)
	assert.Equal(t, "b", Claimant([]ElastiService{at("a", 11), at("b", 10)}).Name)
}

func TestTrafficTriggerSettings(t *testing.T) {
	var none TriggerMetadata
	th, err := none.TrafficThreshold()
	require.NoError(t, err)
	assert.Zero(t, th, "unset: any request is activity")
	w, err := none.TrafficWindow()
	require.NoError(t, err)
	assert.Equal(t, DefaultTrafficWindow, w)

	neg := TriggerMetadata{Threshold: &apiextensionsv1.JSON{Raw: []byte(`-1`)}}
	_, err = neg.TrafficThreshold()
	assert.ErrorContains(t, err, "must not be negative")
	word := TriggerMetadata{Threshold: &apiextensionsv1.JSON{Raw: []byte(`"lots"`)}}
	_, err = word.TrafficThreshold()
	assert.ErrorContains(t, err, "not a number")
	for _, bad := range []string{"soon", "0s", "2h"} {
		_, err := (&TriggerMetadata{Window: bad}).TrafficWindow()
		assert.Error(t, err, bad)
	}

	s := ElastiServiceSpec{Triggers: []ScaleTrigger{{Type: TriggerTypePrometheus}, {Type: TriggerTypeTraffic, Metadata: TriggerMetadata{Window: "30s"}}}}
	require.NotNil(t, s.TrafficTrigger())
	assert.Equal(t, "30s", s.TrafficTrigger().Metadata.Window)
	assert.Nil(t, (&ElastiServiceSpec{}).TrafficTrigger())
}
