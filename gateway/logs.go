package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
)

// logs serves GET /system/logs as NDJSON: the last tail lines (all when 0)
// from since on and, with follow, the new ones as the function writes them.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		httpError(w, http.StatusUnprocessableEntity, "query parameter name is required")
		return
	}
	name, _ = api.SplitName(name)
	if _, ok := s.opts.Store.Get(name); !ok {
		httpError(w, http.StatusNotFound, "function "+name+" not found")
		return
	}
	tail, _ := strconv.Atoi(q.Get("tail"))
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			httpError(w, http.StatusUnprocessableEntity, "since must be RFC 3339")
			return
		}
		since = t
	}
	follow, _ := strconv.ParseBool(q.Get("follow"))
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	write := func(lines []supervisor.LogLine) error {
		for _, l := range lines {
			if !since.IsZero() && l.Time.Before(since) {
				continue
			}
			if err := enc.Encode(api.LogMessage{Name: name, Namespace: api.DefaultNamespace, Instance: l.Instance, Timestamp: l.Time, Text: l.Text}); err != nil {
				return err
			}
		}
		return nil
	}
	if !follow {
		lines, _ := s.opts.Supervisor.Logs(name, tail)
		_ = write(lines)
		return
	}
	// A followed log is open until the caller goes away or the function is
	// removed: no write deadline, and every batch of lines is flushed.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.streams, cancel)()
	_ = s.opts.Supervisor.FollowLogs(ctx, name, tail, func(lines []supervisor.LogLine) error {
		if err := write(lines); err != nil {
			return err
		}
		return rc.Flush()
	})
}
