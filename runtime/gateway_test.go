package runtime_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGateway plays the OpenFaaS gateway for a flow function: it accepts
// POST /async-function/<flow>/flow/<id>/forward with 202 and relays the body
// to the flow's /flow/<id>/forward later (as the queue worker does,
// retrying 503), and serves /function/<name> from registered worker
// functions.
type fakeGateway struct {
	t    testing.TB
	srv  *httptest.Server
	flow string

	mu        sync.Mutex
	flowURL   string
	functions map[string]func(r *http.Request, body []byte) (int, []byte)
	hold      bool
	held      []heldHop
	relayed   []int // final status of each relayed hop
	asyncPath []string
	wg        sync.WaitGroup
}

type heldHop struct {
	id   string
	body []byte
}

func newFakeGateway(t testing.TB, flow string) *fakeGateway {
	g := &fakeGateway{t: t, flow: flow, functions: map[string]func(*http.Request, []byte) (int, []byte){}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		g.wg.Wait()
		g.srv.Close()
	})
	return g
}

func (g *fakeGateway) URL() string { return g.srv.URL }

func (g *fakeGateway) setFlowURL(u string) {
	g.mu.Lock()
	g.flowURL = u
	g.mu.Unlock()
}

func (g *fakeGateway) function(name string, f func(r *http.Request, body []byte) (int, []byte)) {
	g.mu.Lock()
	g.functions[name] = f
	g.mu.Unlock()
}

// setHold makes the gateway keep hops instead of relaying them.
func (g *fakeGateway) setHold(on bool) {
	g.mu.Lock()
	g.hold = on
	g.mu.Unlock()
}

func (g *fakeGateway) takeHeld() []heldHop {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.held
	g.held = nil
	return h
}

func (g *fakeGateway) statuses() []int {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.relayed...)
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch {
	case strings.HasPrefix(r.URL.Path, "/async-function/"):
		rest := strings.TrimPrefix(r.URL.Path, "/async-function/")
		parts := strings.Split(rest, "/")
		if r.Method != http.MethodPost || len(parts) != 4 || parts[0] != g.flow || parts[1] != "flow" || parts[3] != "forward" {
			g.t.Errorf("gateway: unexpected async call %s %s", r.Method, r.URL.Path)
			http.Error(w, "bad async path", http.StatusBadRequest)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			g.t.Errorf("gateway: hop content type %q", ct)
		}
		id := parts[2]
		g.mu.Lock()
		g.asyncPath = append(g.asyncPath, r.URL.Path)
		if g.hold {
			g.held = append(g.held, heldHop{id: id, body: body})
			g.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			return
		}
		g.wg.Add(1)
		g.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		go g.relay(id, body)
	case strings.HasPrefix(r.URL.Path, "/function/"):
		name := strings.TrimPrefix(r.URL.Path, "/function/")
		g.mu.Lock()
		f := g.functions[name]
		g.mu.Unlock()
		if f == nil {
			http.Error(w, "no function "+name, http.StatusNotFound)
			return
		}
		status, out := f(r, body)
		w.WriteHeader(status)
		_, _ = w.Write(out)
	default:
		http.NotFound(w, r)
	}
}

// relay delivers one hop like a queue worker, retrying 503 (hop in
// progress) a few times.
func (g *fakeGateway) relay(id string, body []byte) {
	defer g.wg.Done()
	status := 0
	for attempt := 0; attempt < 50; attempt++ {
		status = g.deliver(id, body)
		if status != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.mu.Lock()
	g.relayed = append(g.relayed, status)
	g.mu.Unlock()
}

// deliver posts a hop to the flow and returns the status.
func (g *fakeGateway) deliver(id string, body []byte) int {
	g.mu.Lock()
	u := g.flowURL
	g.mu.Unlock()
	resp, err := http.Post(u+"/flow/"+id+"/forward", "application/json", bytes.NewReader(body))
	if err != nil {
		g.t.Errorf("gateway: relay: %v", err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// httpResult is a response read in full.
type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func (r httpResult) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

func do(t testing.TB, method, url string, body []byte, headers ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// waitState polls /flow/<id>/state until the request reaches want.
func waitState(t *testing.T, base, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		r := do(t, http.MethodGet, base+"/flow/"+id+"/state", nil)
		if r.status == http.StatusOK {
			last = r.json(t)
			if last["state"] == want {
				return last
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("request %s did not reach %s: last state %v", id, want, last)
	return nil
}

// callbackReceiver records completion callbacks.
type callbackReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []receivedCallback
	cond chan struct{}
}

type receivedCallback struct {
	header http.Header
	body   []byte
}

func newCallbackReceiver(t *testing.T, failFirst int) *callbackReceiver {
	c := &callbackReceiver{cond: make(chan struct{}, 100)}
	calls := 0
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		calls++
		if calls <= failFirst {
			c.mu.Unlock()
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		c.got = append(c.got, receivedCallback{header: r.Header.Clone(), body: b})
		c.mu.Unlock()
		c.cond <- struct{}{}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *callbackReceiver) wait(t *testing.T) receivedCallback {
	t.Helper()
	select {
	case <-c.cond:
	case <-time.After(20 * time.Second):
		t.Fatal("no callback received")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[len(c.got)-1]
}
