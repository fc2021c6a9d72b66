package runtime

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/engine"
)

// requestsView is the JSON answer of GET /flow/requests.
type requestsView struct {
	Requests   []requestSummaryView `json:"requests"`
	NextCursor string               `json:"next_cursor,omitempty"`
}

// requestSummaryView is one request of requestsView.
type requestSummaryView struct {
	ID         string     `json:"id"`
	State      string     `json:"state"`
	Started    time.Time  `json:"started"`
	Ended      *time.Time `json:"ended,omitempty"`
	DurationMS *int64     `json:"duration_ms,omitempty"` // set once ended, 0 included
	FailedNode string     `json:"failed_node,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// handleRequests answers GET /flow/requests?state=&since=&limit=&cursor=:
// a page of the flow's requests, newest first (see engine.Requests).
func (s *Server) handleRequests(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, s, http.MethodGet, http.MethodHead) {
		return
	}
	q, err := parseListQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err, "")
		return
	}
	ctx, cancel := s.invocation(r)
	defer cancel()
	page, err := s.eng.Requests(ctx, q)
	if err != nil {
		s.writeError(w, r, err, "")
		return
	}
	v := requestsView{Requests: make([]requestSummaryView, 0, len(page.Requests)), NextCursor: page.NextCursor}
	for _, req := range page.Requests {
		sv := requestSummaryView{ID: req.ID, State: req.State, Started: req.Started.UTC(), FailedNode: req.FailedNode, Error: req.Error}
		if req.Ended != nil {
			ended := req.Ended.UTC()
			ms := max(ended.Sub(req.Started).Milliseconds(), 0)
			sv.Ended, sv.DurationMS = &ended, &ms
		}
		v.Requests = append(v.Requests, sv)
	}
	s.writeJSON(w, http.StatusOK, v)
}

// parseListQuery reads the parameters of GET /flow/requests. The engine
// checks the states, the limit's range and the cursor.
func parseListQuery(p url.Values) (engine.ListQuery, error) {
	var q engine.ListQuery
	for _, st := range strings.Split(p.Get("state"), ",") {
		if st = strings.TrimSpace(st); st != "" {
			q.States = append(q.States, st)
		}
	}
	if v := p.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return q, fmt.Errorf("%w: since=%q: want an RFC 3339 time such as 2026-12-06T07:00:00Z", ErrBadInput, v)
		}
		q.Since = t
	}
	if v := p.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > engine.MaxListLimit {
			return q, fmt.Errorf("%w: limit=%q: want a number from 1 to %d", ErrBadInput, v, engine.MaxListLimit)
		}
		q.Limit = n
	}
	q.Cursor = p.Get("cursor")
	return q, nil
}
