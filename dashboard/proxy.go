package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Limits of what the dashboard reads from the gateway for one answer.
const (
	maxAnswer = 4 << 20 // DAGs, listings, states
	maxResult = 1 << 20 // a request's result, cut beyond
	maxProbes = 8       // functions probed at once
)

// headerRuntime is set on every answer of a flow function.
const headerRuntime = "X-Faas-Flow-Runtime"

// headerAction must be on the dashboard's POSTs: a browser sends a custom
// header cross-origin only after a preflight the dashboard never answers,
// so another site cannot make a logged-in browser press a button.
const headerAction = "X-Faas-Flow-Dashboard"

// upstream is one answer of the gateway, read whole (up to a limit).
type upstream struct {
	status int
	header http.Header
	body   []byte
	cut    bool // the body was longer than the limit
}

// call sends method path (relative to the gateway, with its query) with the
// gateway's login and reads the answer up to limit bytes.
func (h *handler) call(ctx context.Context, method, path string, limit int64) (*upstream, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.gw.String()+path, nil)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if h.opts.Username != "" {
		req.SetBasicAuth(h.opts.Username, h.opts.Password)
	}
	resp, err := h.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("dashboard: gateway: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("dashboard: gateway: read %s: %w", path, err)
	}
	up := &upstream{status: resp.StatusCode, header: resp.Header, body: b}
	if int64(len(b)) > limit {
		up.body, up.cut = b[:limit], true
	}
	return up, nil
}

// relay answers with the gateway's answer to method path as it is (a JSON
// error when the gateway cannot be reached).
func (h *handler) relay(w http.ResponseWriter, r *http.Request, method, path string) {
	up, err := h.call(r.Context(), method, path, maxAnswer)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if up.cut {
		writeError(w, http.StatusBadGateway, "the gateway's answer is too large")
		return
	}
	if ct := up.header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(up.status)
	_, _ = w.Write(up.body)
}

// flowSummary is one flow of GET api/flows.
type flowSummary struct {
	Name              string    `json:"name"`
	Image             string    `json:"image,omitempty"`
	Replicas          uint64    `json:"replicas"`
	AvailableReplicas uint64    `json:"available_replicas"`
	InvocationCount   float64   `json:"invocation_count"`
	CreatedAt         time.Time `json:"created_at"`
}

// functionStatus holds the fields of GET /system/functions the dashboard uses.
type functionStatus struct {
	Name              string    `json:"name"`
	Image             string    `json:"image"`
	Namespace         string    `json:"namespace"`
	Replicas          uint64    `json:"replicas"`
	AvailableReplicas uint64    `json:"availableReplicas"`
	InvocationCount   float64   `json:"invocationCount"`
	CreatedAt         time.Time `json:"createdAt"`
}

// flows answers GET api/flows: the gateway's functions that are flows,
// by name. A function is a flow when its health route answers with the
// flow runtime's header; each deployment is probed once.
func (h *handler) flows(w http.ResponseWriter, r *http.Request) {
	up, err := h.call(r.Context(), http.MethodGet, "/system/functions", maxAnswer)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if up.status != http.StatusOK {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("the gateway answered %d to GET /system/functions", up.status))
		return
	}
	var fns []functionStatus
	if err := json.Unmarshal(up.body, &fns); err != nil {
		writeError(w, http.StatusBadGateway, "the gateway's function list is not JSON: "+err.Error())
		return
	}
	isFlow := make([]bool, len(fns))
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxProbes)
	for i, f := range fns {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			isFlow[i] = h.isFlow(r.Context(), f)
		})
	}
	wg.Wait()
	out := []flowSummary{}
	for i, f := range fns {
		if isFlow[i] {
			out = append(out, flowSummary{Name: f.Name, Image: f.Image, Replicas: f.Replicas,
				AvailableReplicas: f.AvailableReplicas, InvocationCount: f.InvocationCount, CreatedAt: f.CreatedAt})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// isFlow reports whether function f is a flow, probing it the first time.
// A probe that fails (the function is starting) is not remembered.
func (h *handler) isFlow(ctx context.Context, f functionStatus) bool {
	if !flowName.MatchString(f.Name) {
		return false
	}
	key := f.Name + "\x00" + f.CreatedAt.String()
	if v, known := h.probes.get(key); known {
		return v
	}
	up, err := h.call(ctx, http.MethodHead, "/function/"+f.Name+"/_/health", 0)
	if err != nil || up.status >= 500 {
		return false
	}
	v := up.header.Get(headerRuntime) != ""
	h.probes.put(key, v)
	return v
}

// dag answers GET api/flows/{flow}/dag: the flow's ?dag=json.
func (h *handler) dag(w http.ResponseWriter, r *http.Request) {
	flow, _, ok := pathValues(w, r)
	if ok {
		h.relay(w, r, http.MethodGet, "/function/"+flow+"?dag=json")
	}
}

// requests answers GET api/flows/{flow}/requests: the flow's request
// listing, with the page's state, since, limit and cursor.
func (h *handler) requests(w http.ResponseWriter, r *http.Request) {
	flow, _, ok := pathValues(w, r)
	if !ok {
		return
	}
	q := url.Values{}
	for _, k := range []string{"state", "since", "limit", "cursor"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	path := "/function/" + flow + "/flow/requests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	h.relay(w, r, http.MethodGet, path)
}

// requestView is the answer of GET api/flows/{flow}/requests/{id}.
type requestView struct {
	State  json.RawMessage `json:"state"`
	Result *resultView     `json:"result,omitempty"`
}

// resultView is the outcome of an ended request.
type resultView struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Cut    bool   `json:"cut,omitempty"`
}

// request answers GET api/flows/{flow}/requests/{id}: the request's state
// and, once it has ended, its result (or error).
func (h *handler) request(w http.ResponseWriter, r *http.Request) {
	flow, id, ok := pathValues(w, r)
	if !ok {
		return
	}
	base := "/function/" + flow + "/flow/" + id
	st, err := h.call(r.Context(), http.MethodGet, base+"/state", maxAnswer)
	if err != nil || st.cut {
		writeError(w, http.StatusBadGateway, errors.Join(err, errors.New("cannot read the request's state")).Error())
		return
	}
	if st.status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st.status)
		_, _ = w.Write(st.body)
		return
	}
	view := requestView{State: st.body}
	var s struct {
		State string `json:"state"`
	}
	_ = json.Unmarshal(st.body, &s)
	if s.State == "succeeded" || s.State == "failed" || s.State == "stopped" {
		res, err := h.call(r.Context(), http.MethodGet, base+"/result", maxResult)
		if err == nil {
			view.Result = &resultView{Status: res.status, Body: strings.ToValidUTF8(string(res.body), "\uFFFD"), Cut: res.cut}
		}
	}
	writeJSON(w, http.StatusOK, view)
}

// control answers POST api/flows/{flow}/requests/{id}/{action}: pause,
// resume, stop or redrive, forwarded to the flow.
func (h *handler) control(w http.ResponseWriter, r *http.Request) {
	flow, id, ok := pathValues(w, r)
	if !ok {
		return
	}
	if r.Header.Get(headerAction) == "" {
		writeError(w, http.StatusForbidden, "missing "+headerAction+" header")
		return
	}
	switch action := r.PathValue("action"); action {
	case "pause", "resume", "stop", "redrive":
		h.relay(w, r, http.MethodPost, "/function/"+flow+"/flow/"+id+"/"+action)
	default:
		writeError(w, http.StatusNotFound, "no action "+action)
	}
}
