package elastiserver

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON answers with code and v encoded as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// writeError answers with code and {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// writeRetryAfter answers code with a Retry-After of seconds (at least 1).
func writeRetryAfter(w http.ResponseWriter, code int, seconds int, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(seconds, 1)))
	writeError(w, code, msg)
}

// methodNotAllowed answers 405 naming the allowed method.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path+"; use "+allowed)
}
