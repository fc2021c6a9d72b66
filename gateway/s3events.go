package gateway

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/s3trigger"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// S3EventsPath is where MinIO's webhook target (or an S3 → SNS
// subscription) posts bucket notifications: see docs/events.md.
const S3EventsPath = "/system/events/s3"

// s3Started is one request a notification started (or had started
// before: a repeated delivery names the same request id).
type s3Started struct {
	Flow      string `json:"flow"`
	RequestID string `json:"request_id"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
}

// s3Answer is the JSON answer to a notification.
type s3Answer struct {
	Started []s3Started `json:"started"`
	// Ignored counts the object events no binding matched and the events
	// other than creations.
	Ignored int `json:"ignored"`
}

// s3Events answers POST S3EventsPath: the token checked (401), the
// notification decoded (400), and, for each created object, one queued
// start of every flow bound to its bucket, with the object version's
// deterministic request id, before the answer (so a 200 means every
// start is stored in the queue; a failure is 503 and the sender tries
// again).
func (s *Server) s3Events(w http.ResponseWriter, r *http.Request) {
	if !s.s3TokenOK(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="faasflow s3 events"`)
		httpError(w, http.StatusUnauthorized, "wrong or missing bucket notification token")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s3trigger.MaxBodyBytes+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if len(body) > s3trigger.MaxBodyBytes {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("bucket notification over %d bytes", s3trigger.MaxBodyBytes))
		return
	}
	objects, err := s3trigger.Decode(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	bindings := s.s3Bindings()
	var ans s3Answer
	ans.Started = []s3Started{}
	for _, o := range objects {
		n := 0
		for _, b := range bindings {
			if !o.Created() || !b.Matches(o.Bucket, o.Key) {
				continue
			}
			n++
			st := s3Started{Flow: b.Flow, RequestID: o.RequestID(), Bucket: o.Bucket, Key: o.Key}
			if err := s.queueStart(r, b.Flow, st.RequestID, o.Body()); err != nil {
				s.opts.Logger.Warn("bucket notification: start not queued", "flow", b.Flow, "bucket", o.Bucket, "key", o.Key, "err", err)
				httpError(w, http.StatusServiceUnavailable, fmt.Sprintf("start of %s for %s/%s not queued: %v", b.Flow, o.Bucket, o.Key, err))
				return
			}
			ans.Started = append(ans.Started, st)
		}
		if n == 0 {
			ans.Ignored++
			s.opts.Logger.Info("bucket notification ignored: no flow bound", "event", o.EventName, "bucket", o.Bucket, "key", o.Key)
		}
	}
	writeJSON(w, http.StatusOK, ans)
}

// s3TokenOK compares the request's token (Authorization: Bearer <token>,
// as MinIO sends its auth_token, or the bare token) with the configured
// one in constant time. No token configured refuses every request.
func (s *Server) s3TokenOK(r *http.Request) bool {
	want := s.opts.S3WebhookToken
	if want == "" {
		return false
	}
	got := strings.TrimSpace(r.Header.Get("Authorization"))
	if t, ok := strings.CutPrefix(got, "Bearer "); ok {
		got = strings.TrimSpace(t)
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// s3Bindings are the bucket bindings of the deployed functions, by flow
// name; a function whose annotations are invalid is logged and skipped.
func (s *Server) s3Bindings() []s3trigger.Binding {
	var out []s3trigger.Binding
	for _, f := range s.opts.Store.List() {
		if f.Deployment.Annotations == nil {
			continue
		}
		bs, err := s3trigger.ParseBindings(f.Deployment.Service, *f.Deployment.Annotations)
		if err != nil {
			s.opts.Logger.Warn("bucket binding ignored", "err", err)
			continue
		}
		out = append(out, bs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Flow < out[j].Flow })
	return out
}

// errNoQueue: the gateway has no queue to start flows through.
var errNoQueue = errors.New("the gateway has no queue")

// queueStart queues POST /function/<flow> with body and X-Faas-Flow-Reqid
// id. The id is also the queued call's id: the queue stores a repeat once
// within its duplicate window, and a repeat delivered later is refused by
// the flow (409: the request id is in use), so one request starts.
func (s *Server) queueStart(r *http.Request, flow, id string, body []byte) error {
	if s.opts.Publisher == nil {
		return errNoQueue
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Faas-Flow-Reqid", id)
	h.Set(api.HeaderCallID, id)
	req := queuemsg.Request{Header: h, Host: r.Host, Body: body, Method: http.MethodPost, Function: flow}
	return s.opts.Publisher.Publish(r.Context(), req, id)
}
