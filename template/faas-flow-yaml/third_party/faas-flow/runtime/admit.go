package runtime

import (
	"context"
	"fmt"
	"net/http"
)

// busyRetryAfter is the Retry-After, in seconds, of a new request refused
// by max_running_requests.
const busyRetryAfter = 1

// admit lets a new request in unless max_running_requests is set and the
// flow's unfinished requests, with the new ones being started (this one
// included), would pass it: then it fails with ErrTooManyRunning. The
// caller calls done once the engine has started the request (from then on
// the engine counts it) or it was not started. Requests being started are
// counted twice for a moment, never missed. A store that cannot be asked
// lets the request through: its start will meet the same store.
func (s *Server) admit(ctx context.Context) (done func(), err error) {
	limit := s.cfg.MaxRunningRequests
	if limit <= 0 {
		return func() {}, nil
	}
	starting := s.starting.Add(1)
	done = func() { s.starting.Add(-1) }
	running, err := s.eng.Running(ctx)
	if err != nil {
		s.log.Warn("cannot count the running requests; admitting a new one", "err", err)
		return done, nil
	}
	if int64(running)+starting > int64(limit) {
		done()
		return nil, fmt.Errorf("%w (%d running, %d starting, max_running_requests %d)", ErrTooManyRunning, running, starting-1, limit)
	}
	return done, nil
}

// refuseUnread answers err to a request whose body is left unread: the
// connection is closed after the answer when a body was sent, so that it
// is neither read nor left in the way of the next request.
func (s *Server) refuseUnread(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	s.writeError(w, r, err, "")
}
