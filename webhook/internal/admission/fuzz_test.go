package admission

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzDecodeReview: any body either decodes into a review with a request and a UID, or errors.
func FuzzDecodeReview(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a"}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","object":{"spec":1}}}`))
	f.Add([]byte("null"))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeReview(body)
		if err == nil {
			assert.NotNil(t, r.Request)
			assert.NotEmpty(t, r.Request.UID)
		}
	})
}

// FuzzServeHTTP: the handler answers every body with 200 (an allowed response), 400 or 413, and
// never panics. Seeds include valid reviews whose pod is garbage.
func FuzzServeHTTP(f *testing.F) {
	f.Add(reviewBody(f, "edge", gatewayPod(nil), false))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","namespace":"edge","object":{"metadata":{"annotations":{"elasti.dev/gateway":"true","elasti.dev/sidecar-status":"{"}}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","namespace":"edge","object":"x"}}`))
	h, _ := newHandler(f)
	h.MaxBodyBytes = 1 << 16
	f.Fuzz(func(t *testing.T, body []byte) {
		w := post(h, http.MethodPost, body)
		assert.Contains(t, []int{http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge}, w.Code)
	})
}
