package portrange

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Range
		wantErr string
	}{
		{in: Default, want: Range{First: 20000, Last: 29999}},
		{in: " 21000 - 21000 ", want: Range{First: 21000, Last: 21000}},
		{in: "20000", wantErr: "must be first-last"},
		{in: "a-b", wantErr: "two port numbers"},
		{in: "80-90", wantErr: "1024 < first"},
		{in: "30000-20000", wantErr: "first <= last"},
		{in: "60000-70000", wantErr: "<= 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
