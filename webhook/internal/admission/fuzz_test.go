package admission

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
)

// FuzzServeHTTP: through controller-runtime's serving, every body gets an AdmissionReview whose
// response is allowed or an error with code 400; a review that decodes with a UID is always
// allowed (the webhook never fails a pod). Seeds include valid reviews whose pod is garbage.
func FuzzServeHTTP(f *testing.F) {
	f.Add(reviewBody(f, "edge", gatewayPod(nil), false))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","namespace":"edge","object":{"metadata":{"annotations":{"elasti.dev/gateway":"true","elasti.dev/sidecar-status":"{"}}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","namespace":"edge","object":"x"}}`))
	f.Add([]byte("null"))
	f.Add([]byte("[]"))
	h, _ := newHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := post(h, body)
		require.Equal(t, http.StatusOK, w.Code)
		var out admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
		require.NotNil(t, out.Response)
		if !out.Response.Allowed {
			require.NotNil(t, out.Response.Result)
			assert.Equal(t, int32(http.StatusBadRequest), out.Response.Result.Code, out.Response.Result.Message)
		}
	})
}
