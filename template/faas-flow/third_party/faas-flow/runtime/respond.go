package runtime

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/faas-flow/faas-flow/sdk"
)

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
	State     string `json:"state,omitempty"`
	Status    int    `json:"status"`
	// Result is the output of the flow's OnFailure handler, if any.
	Result string `json:"result,omitempty"`
}

// writeJSON answers with status and v as indented JSON.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode response","status":500}`)
	}
	writeJSONBody(w, status, b)
}

// writeJSONBody answers with status and the encoded JSON b.
func writeJSONBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers with StatusOf(err) and a JSON body naming the error.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, id string) {
	status := StatusOf(err)
	switch {
	case status >= 500:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request", id, "status", status, "err", err)
	case status == http.StatusUnauthorized:
		s.log.Warn("rejected", "method", r.Method, "path", r.URL.Path, "request", id, "status", status, "err", err, "remote", r.RemoteAddr)
	default:
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "request", id, "status", status, "err", err)
	}
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(busyRetryAfter))
	}
	msg := err.Error()
	if errors.Is(err, sdk.ErrNodeFailed) {
		msg = "the flow failed: " + msg
	}
	s.writeJSON(w, status, errorBody{Error: msg, RequestID: id, Status: status})
}
