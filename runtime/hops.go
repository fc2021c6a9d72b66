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
	ctx, cancel := s.invocation(r)
	defer cancel()
	if err := s.eng.ReceiveFor(ctx, id, body); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	writeHopDone(w, id)
}

// hopDone is the answer to a hop that was taken.
type hopDone struct {
	RequestID string `json:"request_id"`
	Status    string `json:"status"`
}

// writeHopDone answers a hop that was taken. Only the queue worker reads
// the answer, so it is written compact, not indented for people as
// writeJSON writes.
func writeHopDone(w http.ResponseWriter, id string) {
	b, _ := json.Marshal(hopDone{RequestID: id, Status: "done"}) // two strings: cannot fail
	writeJSONBody(w, http.StatusOK, b)
}
