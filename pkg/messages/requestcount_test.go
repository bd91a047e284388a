package messages

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeRequestCount(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    RequestCount
		wantErr string
	}{
		{name: "valid", body: `{"count":3,"svc":"orders","namespace":"shop"}`, want: RequestCount{Count: 3, Svc: "orders", Namespace: "shop"}},
		{name: "valid with whitespace", body: " {\"count\":1,\"svc\":\"a\",\"namespace\":\"b\"}\n", want: RequestCount{Count: 1, Svc: "a", Namespace: "b"}},
		{name: "with sentAt", body: `{"count":1,"svc":"a","namespace":"b","sentAt":"2026-11-30T15:04:05.123Z"}`,
			want: RequestCount{Count: 1, Svc: "a", Namespace: "b", SentAt: time.Date(2026, 11, 30, 15, 4, 5, 123e6, time.UTC)}},
		{name: "sentAt not a time", body: `{"count":1,"svc":"a","namespace":"b","sentAt":"yesterday"}`, wantErr: "invalid RequestCount"},
		{name: "sentAt a number", body: `{"count":1,"svc":"a","namespace":"b","sentAt":17}`, wantErr: "invalid RequestCount"},
		{name: "empty", body: ``, wantErr: "empty body"},
		{name: "truncated", body: `{"count":3,"svc":"orders"`, wantErr: "truncated JSON"},
		{name: "not json", body: `count=3`, wantErr: "malformed JSON"},
		{name: "unknown field", body: `{"count":3,"svc":"orders","namespace":"shop","extra":1}`, wantErr: `unknown field "extra"`},
		{name: "count as string", body: `{"count":"3","svc":"orders","namespace":"shop"}`, wantErr: `field "count" must be a int`},
		{name: "negative count", body: `{"count":-1,"svc":"orders","namespace":"shop"}`, wantErr: "count must be 0 (activity) or more"},
		{name: "with forwarded", body: `{"count":0,"svc":"a","namespace":"b","forwarded":37}`, want: RequestCount{Svc: "a", Namespace: "b", Forwarded: 37}},
		{name: "negative forwarded", body: `{"count":0,"svc":"a","namespace":"b","forwarded":-2}`, wantErr: "forwarded must be between 0 and"},
		{name: "huge forwarded", body: `{"count":0,"svc":"a","namespace":"b","forwarded":1099511627777}`, wantErr: "forwarded must be between 0 and"},
		{name: "missing svc", body: `{"count":1,"namespace":"shop"}`, wantErr: "svc (the Service name) is required"},
		{name: "missing namespace", body: `{"count":1,"svc":"orders"}`, wantErr: "namespace is required"},
		{name: "bad svc", body: `{"count":1,"svc":"Orders!","namespace":"shop"}`, wantErr: `svc "Orders!" is not a valid Service name`},
		{name: "bad namespace", body: `{"count":1,"svc":"orders","namespace":"../etc"}`, wantErr: `namespace "../etc" is not a valid namespace name`},
		{name: "long svc", body: `{"count":1,"svc":"` + strings.Repeat("a", 64) + `","namespace":"shop"}`, wantErr: "not a valid Service name"},
		{name: "trailing object", body: `{"count":1,"svc":"a","namespace":"b"}{}`, wantErr: "trailing data"},
		{name: "trailing garbage", body: `{"count":1,"svc":"a","namespace":"b"} x`, wantErr: "trailing data"},
		{name: "array", body: `[1,2]`, wantErr: "must be a messages.RequestCount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequestCount(strings.NewReader(tt.body))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrInvalidRequestCount)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRequestCountJSONShape(t *testing.T) {
	b, err := json.Marshal(RequestCount{Count: 2, Svc: "orders", Namespace: "shop"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"count":2,"svc":"orders","namespace":"shop"}`, string(b), "no sentAt when it is not set")
	b, err = json.Marshal(RequestCount{Count: 2, Svc: "orders", Namespace: "shop", SentAt: time.Date(2026, 11, 30, 15, 4, 5, 0, time.UTC)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"count":2,"svc":"orders","namespace":"shop","sentAt":"2026-11-30T15:04:05Z"}`, string(b))
	assert.Equal(t, "shop/orders", RequestCount{Svc: "orders", Namespace: "shop"}.Key())
}

func FuzzDecodeRequestCount(f *testing.F) {
	for _, s := range []string{`{"count":3,"svc":"orders","namespace":"shop"}`, `{}`, `[`, `{"count":1e9}`, "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rc, err := DecodeRequestCountBytes(b)
		if err != nil {
			if rc != (RequestCount{}) {
				t.Fatalf("error %v returned a non-zero value %+v", err, rc)
			}
			return
		}
		if rc.Validate() != nil {
			t.Fatalf("decoded an invalid value %+v", rc)
		}
		// A decoded value re-encodes and decodes to itself.
		enc, _ := json.Marshal(rc)
		again, err := DecodeRequestCountBytes(enc)
		if err != nil || again != rc {
			t.Fatalf("round trip of %+v: %v %+v", rc, err, again)
		}
	})
}
