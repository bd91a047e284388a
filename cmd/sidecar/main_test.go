package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    zapcore.Level
		wantErr bool
	}{
		{in: "info", want: zapcore.InfoLevel},
		{in: "", want: zapcore.InfoLevel},
		{in: "error", want: zapcore.ErrorLevel},
		{in: "debug", want: zapcore.DebugLevel},
		{in: "3", want: zapcore.Level(-3)},
		{in: "-1", wantErr: true},
		{in: "loud", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLevel(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
