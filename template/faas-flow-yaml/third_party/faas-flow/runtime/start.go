package runtime

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/engine"
)

// accepted is the body of a 202 answer to a new multi-node request.
type accepted struct {
	RequestID string `json:"request_id"`
	Flow      string `json:"flow"`
	State     string `json:"state"`
	StatePath string `json:"state_path"`
	StateURL  string `json:"state_url"`
	ResultURL string `json:"result_url"`
	Message   string `json:"message,omitempty"`
}

// startRequest is a new request as the client sent it.
type startRequest struct {
	id       string // X-Faas-Flow-Reqid, "" to let the engine choose
	callback string // X-Faas-Flow-Callback-Url, "" for none
	wait     time.Duration
	body     []byte
}

// outcome is how far a started request got before the answer: its state
// and, when the client waited for it to end, its result and record.
type outcome struct {
	state  string
	result []byte
	final  *engine.RequestRecord // the ended request's record, as Wait returned it
}

// handleStart answers a new request (GET|POST / without a query control).
// A flow of one node answers with its result. A flow of more nodes answers
// 202 and where to follow the request, or, with ?wait, its outcome once it
// ends within the wait; a request that failed at once answers with its
// failure.
func (s *Server) handleStart(w http.ResponseWriter, r *http.Request, q url.Values) {
	started := time.Now()
	ctx, cancel := s.invocation(r)
	defer cancel()
	admitted, err := s.admit(ctx)
	if err != nil {
		s.refuseUnread(w, r, err)
		return
	}
	in, err := s.readStart(w, r, q)
	if err != nil {
		admitted()
		s.writeError(w, r, err, in.id)
		return
	}
	id := in.id
	res, err := s.eng.Start(ctx, engine.StartRequest{ID: in.id, Body: in.body, Query: q, CallbackURL: in.callback})
	admitted()
	if res != nil {
		id = res.ID
	}
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	w.Header().Set(HeaderRequestID, id)
	if res.Sync {
		w.Header().Set(HeaderState, res.State)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.Result)
		return
	}
	out := outcome{state: res.State}
	if in.wait > 0 && queued(r) {
		// A queue's worker waits for this answer, and may be the one that
		// delivers the flow's own hops (OpenFaaS CE runs one call at a
		// time): waiting here could hold them up for the whole wait.
		w.Header().Set(HeaderWaitIgnored, "the call came through a queue")
		in.wait = 0
	}
	if in.wait > 0 && (out.state == engine.StateRunning || out.state == engine.StatePaused) {
		remaining := s.budget - time.Since(started)
		if out, err = s.waitForEnd(ctx, id, out.state, min(in.wait, remaining)); err != nil {
			s.writeError(w, r, err, id)
			return
		}
	}
	s.answerStarted(w, r, id, in.wait, out)
}

// readStart reads a new request: the request id and callback URL headers,
// the wait (?wait or X-Faas-Flow-Wait), the body (up to max_body_size) and,
// with authenticate_request, checks the body's signature. Even on error the
// result carries the request id the client sent, for the error answer.
func (s *Server) readStart(w http.ResponseWriter, r *http.Request, q url.Values) (startRequest, error) {
	in := startRequest{
		id:       strings.TrimSpace(r.Header.Get(HeaderRequestID)),
		callback: strings.TrimSpace(r.Header.Get(HeaderCallbackURL)),
	}
	if in.callback != "" {
		u, err := url.Parse(in.callback)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return in, fmt.Errorf("%w: %s must be an absolute http(s) URL", ErrBadInput, HeaderCallbackURL)
		}
	}
	var err error
	if in.wait, err = s.waitDuration(r, q); err != nil {
		return in, err
	}
	if in.body, err = s.readBody(w, r); err != nil {
		return in, err
	}
	if s.cfg.AuthenticateRequest {
		if err := s.authenticate(r, in.body); err != nil {
			return in, err
		}
	}
	return in, nil
}

// waitForEnd waits up to d for request id, now in state, to end. The
// outcome has the state the request is in when the wait ends and, if it
// ended, its result and record. Running out of time is not an error; any
// other failure of the wait is returned.
func (s *Server) waitForEnd(ctx context.Context, id, state string, d time.Duration) (outcome, error) {
	out := outcome{state: state}
	wctx, cancel := context.WithTimeout(ctx, d)
	res, rec, err := s.eng.Wait(wctx, id)
	cancel()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		if rec != nil {
			out.state = rec.State
		}
	case err != nil && !errors.Is(err, engine.ErrNotFinished):
		return out, err
	case rec != nil:
		out.state = rec.State
		if err == nil {
			out.result, out.final = res, rec
		}
	}
	return out, nil
}

// answerStarted answers the start of multi-node request id. A request that
// ended answers with its outcome when the client waited (wait > 0) or when
// it failed; any other answers 202 with where to follow the request.
func (s *Server) answerStarted(w http.ResponseWriter, r *http.Request, id string, wait time.Duration, out outcome) {
	switch out.state {
	case engine.StateSucceeded, engine.StateFailed, engine.StateStopped:
		if wait > 0 || out.state == engine.StateFailed {
			if out.final != nil {
				s.writeOutcome(w, id, out.result, out.final)
				return
			}
			s.writeResult(w, r, id)
			return
		}
	}
	s.writeJSON(w, http.StatusAccepted, accepted{
		RequestID: id, Flow: s.cfg.Flow, State: out.state,
		StatePath: "/flow/" + url.PathEscape(id) + "/state",
		StateURL:  s.functionURL(r, id, "state"),
		ResultURL: s.functionURL(r, id, "result"),
	})
}

// functionURL is the URL of route /flow/{id}/{what} of this flow through
// the gateway the caller used: the one X-Forwarded-Host and
// X-Forwarded-Proto name (an OpenFaaS gateway, or a proxy in front of it,
// sets them), else the gateway setting.
func (s *Server) functionURL(r *http.Request, id, what string) string {
	return callerGateway(r, s.cfg.Gateway) + "/function/" + url.PathEscape(s.cfg.Flow) + "/flow/" + url.PathEscape(id) + "/" + what
}

// callerGateway returns the base URL of the gateway r came through, from
// its X-Forwarded-Host (and -Proto, default http), or def when it has none
// that is a plain host[:port].
func callerGateway(r *http.Request, def string) string {
	host := firstValue(r.Header.Get("X-Forwarded-Host"))
	if host == "" {
		return def
	}
	u, err := url.Parse("http://" + host)
	if err != nil || u.Host != host || u.User != nil || u.Path != "" || u.RawQuery != "" {
		return def
	}
	proto := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto")))
	if proto != "https" {
		proto = "http"
	}
	return proto + "://" + host
}

// firstValue is the first of a comma-separated header value, trimmed.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// queued reports whether r was delivered by a queue's worker (an async
// call): OpenFaaS's and the local gateway's workers name themselves in
// User-Agent, and a call queued through an OpenFaaS gateway carries two
// X-Start-Time values (one from its acceptance, one from its delivery).
func queued(r *http.Request) bool {
	return strings.Contains(r.Header.Get("User-Agent"), "queue-worker") || len(r.Header.Values("X-Start-Time")) > 1
}

// waitDuration reads ?wait= or X-Faas-Flow-Wait: a duration (seconds or Go
// duration) or "true" for as long as the invocation allows.
func (s *Server) waitDuration(r *http.Request, q url.Values) (time.Duration, error) {
	v := q.Get("wait")
	if v == "" {
		v = r.Header.Get(HeaderWait)
	}
	v = strings.TrimSpace(v)
	if v == "" || v == "false" {
		return 0, nil
	}
	if v == "true" {
		return s.budget, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%w: wait: %v", ErrBadInput, err)
	}
	return min(d, s.budget), nil
}

// authenticate checks faas-flow's caller signature, X-Hub-Signature over
// the body: sha1=<hex> or sha256=<hex>.
func (s *Server) authenticate(r *http.Request, body []byte) error {
	sig := r.Header.Get("X-Hub-Signature")
	if sig == "" {
		return fmt.Errorf("%w: X-Hub-Signature is missing (authenticate_request=true)", ErrUnauthorized)
	}
	if !verifyHubSignature(s.cfg.HMACSecret, body, sig) {
		return fmt.Errorf("%w: X-Hub-Signature does not match the body", ErrUnauthorized)
	}
	return nil
}

// verifyHubSignature checks sig ("sha1=<hex>" or "sha256=<hex>") against
// the HMAC of body under key, in constant time.
func verifyHubSignature(key, body []byte, sig string) bool {
	if len(key) == 0 {
		return false
	}
	algo, hexSig, ok := strings.Cut(sig, "=")
	if !ok {
		return false
	}
	var h func() hash.Hash
	switch algo {
	case "sha1":
		h = sha1.New
	case "sha256":
		h = sha256.New
	default:
		return false
	}
	want, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(h, key)
	m.Write(body)
	return hmac.Equal(want, m.Sum(nil))
}
