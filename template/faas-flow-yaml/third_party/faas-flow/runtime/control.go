package runtime

import (
	"fmt"
	"net/http"
	"time"

	"github.com/faas-flow/faas-flow/engine"
)

// stateView is the JSON answer of GET /flow/{id}/state.
type stateView struct {
	RequestID string                       `json:"request_id"`
	Flow      string                       `json:"flow"`
	State     string                       `json:"state"`
	Created   time.Time                    `json:"created"`
	Updated   time.Time                    `json:"updated"`
	Ended     *time.Time                   `json:"ended,omitempty"`
	Error     string                       `json:"error,omitempty"`
	Redrives  int                          `json:"redrives,omitempty"`
	Nodes     map[string]engine.NodeStatus `json:"nodes"`
}

// handleState answers GET /flow/{id}/state (and ?state=id): the request's
// record as a stateView.
func (s *Server) handleState(w http.ResponseWriter, r *http.Request, id string) {
	if err := s.checkID(id); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	ctx, cancel := s.invocation(r)
	defer cancel()
	rec, err := s.eng.State(ctx, id)
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	v := stateView{RequestID: rec.ID, Flow: rec.Flow, State: rec.State, Created: rec.Created, Updated: rec.Updated,
		Ended: rec.Ended, Error: rec.Error, Redrives: rec.Redrives, Nodes: rec.Nodes}
	if v.Nodes == nil {
		v.Nodes = map[string]engine.NodeStatus{}
	}
	w.Header().Set(HeaderRequestID, id)
	w.Header().Set(HeaderState, rec.State)
	s.writeJSON(w, http.StatusOK, v)
}

// handleResult answers GET /flow/{id}/result (see writeResult).
func (s *Server) handleResult(w http.ResponseWriter, r *http.Request, id string) {
	if err := s.checkID(id); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	s.writeResult(w, r, id)
}

// writeResult answers with the result of request id: 200 and the body when
// it succeeded, 422 with the error when it failed, 409 while it runs or
// when it was stopped.
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, id string) {
	ctx, cancel := s.invocation(r)
	defer cancel()
	res, rec, err := s.eng.Result(ctx, id)
	if err != nil {
		w.Header().Set(HeaderRequestID, id)
		if rec != nil {
			w.Header().Set(HeaderState, rec.State)
		}
		s.writeError(w, r, err, id)
		return
	}
	s.writeOutcome(w, id, res, rec)
}

// writeOutcome answers with the result res of ended request id and its
// record rec.
func (s *Server) writeOutcome(w http.ResponseWriter, id string, res []byte, rec *engine.RequestRecord) {
	w.Header().Set(HeaderRequestID, id)
	w.Header().Set(HeaderState, rec.State)
	switch rec.State {
	case engine.StateSucceeded:
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res)
	case engine.StateFailed:
		s.writeJSON(w, http.StatusUnprocessableEntity, errorBody{
			Error: "the flow failed: " + rec.Error, RequestID: id, State: rec.State, Status: http.StatusUnprocessableEntity,
			Result: string(res),
		})
	default:
		s.writeJSON(w, http.StatusConflict, errorBody{
			Error: fmt.Sprintf("request %s was %s: it has no result", id, rec.State), RequestID: id, State: rec.State, Status: http.StatusConflict,
		})
	}
}

// handleControl answers POST /flow/{id}/pause|resume|stop|redrive (and
// ?pause-flow=id, ?resume-flow=id, ?stop-flow=id, ?redrive-flow=id):
// action is "pause", "resume", "stop" or "redrive".
func (s *Server) handleControl(w http.ResponseWriter, r *http.Request, action, id string) {
	if err := s.checkID(id); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	ctx, cancel := s.invocation(r)
	defer cancel()
	var err error
	state, reply := "", map[string]any{}
	switch action {
	case "pause":
		err, state = s.eng.Pause(ctx, id), engine.StatePaused
	case "resume":
		err, state = s.eng.Resume(ctx, id), engine.StateRunning
	case "stop":
		err, state = s.eng.Stop(ctx, id), engine.StateStopped
	case "redrive":
		var rec *engine.RequestRecord
		if rec, err = s.eng.Redrive(ctx, id); err == nil {
			state, reply["redrives"] = rec.State, rec.Redrives
		}
	}
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	w.Header().Set(HeaderRequestID, id)
	reply["request_id"], reply["state"], reply["message"] = id, state, action+" done"
	s.writeJSON(w, http.StatusOK, reply)
}

// checkID rejects an empty id, and any id of a flow that keeps no requests.
func (s *Server) checkID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty request id", ErrBadInput)
	}
	if s.eng.IsSync() {
		return fmt.Errorf("%w: %s: this flow runs in one call and keeps no request state", engine.ErrUnknownRequest, id)
	}
	return nil
}
