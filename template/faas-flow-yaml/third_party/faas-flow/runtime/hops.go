package runtime

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// handleForward answers POST /flow/{id}/forward: a sealed hop of request
// id, posted by the queue worker that took it from the queue the hop
// transport put it on (gatewayhttp: the gateway's async queue; natsqueue:
// the local gateway's JetStream queue). Engine.Receive verifies the hop
// and runs the node it names.
func (s *Server) handleForward(w http.ResponseWriter, r *http.Request, id string) {
	if s.eng.IsSync() {
		s.writeError(w, r, fmt.Errorf("%w: this flow runs in one call and takes no hops", ErrNoRoute), id)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	if hid, ok := peekHopRequestID(body); ok && hid != id {
		s.writeError(w, r, fmt.Errorf("%w: hop of request %q posted to /flow/%s/forward", ErrBadInput, hid, id), id)
		return
	}
	ctx, cancel := s.invocation(r)
	defer cancel()
	if err := s.eng.Receive(ctx, body); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"request_id": id, "status": "done"})
}

// peekHopRequestID reads the request id of a sealed hop without verifying
// it (only to reject a hop posted under another request's path).
func peekHopRequestID(body []byte) (string, bool) {
	var sh struct {
		Hop json.RawMessage `json:"hop"`
	}
	if json.Unmarshal(body, &sh) != nil || len(sh.Hop) == 0 {
		return "", false
	}
	var env struct {
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(sh.Hop, &env) != nil || env.RequestID == "" {
		return "", false
	}
	return env.RequestID, true
}
