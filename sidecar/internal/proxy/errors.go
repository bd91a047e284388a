package proxy

import (
	"encoding/json"
	"net/http"
)

// apiError is the JSON body of every answer the sidecar writes itself.
type apiError struct {
	Error       string  `json:"error"`
	Host        string  `json:"host,omitempty"`
	Service     string  `json:"service,omitempty"`
	HeldSeconds float64 `json:"heldSeconds,omitempty"`
}

func writeError(w http.ResponseWriter, code int, e apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Elasti-Error", "true")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(e)
}
