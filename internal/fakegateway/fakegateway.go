package fakegateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Gateway plays the OpenFaaS gateway for a flow function: it accepts
// POST /async-function/<flow>/flow/<id>/forward with 202 and relays the body
// to the flow's /flow/<id>/forward later (as the queue worker does,
// retrying 503), and serves /function/<name> from registered worker
// functions.
type Gateway struct {
	t    testing.TB
	srv  *httptest.Server
	flow string

	mu        sync.Mutex
	flowURL   string
	functions map[string]func(r *http.Request, body []byte) (int, []byte)
	hold      bool
	held      []HeldHop
	relayed   []int // final status of each relayed hop
	asyncPath []string
	wg        sync.WaitGroup
}

type HeldHop struct {
	ID   string
	Body []byte
}

func New(t testing.TB, flow string) *Gateway {
	g := &Gateway{t: t, flow: flow, functions: map[string]func(*http.Request, []byte) (int, []byte){}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		g.wg.Wait()
		g.srv.Close()
	})
	return g
}

// Drain waits until every hop the gateway is relaying has been delivered.
func (g *Gateway) Drain() { g.wg.Wait() }

// URL is the gateway's base URL.
func (g *Gateway) URL() string { return g.srv.URL }

func (g *Gateway) SetFlowURL(u string) {
	g.mu.Lock()
	g.flowURL = u
	g.mu.Unlock()
}

func (g *Gateway) Function(name string, f func(r *http.Request, body []byte) (int, []byte)) {
	g.mu.Lock()
	g.functions[name] = f
	g.mu.Unlock()
}

// setHold makes the gateway keep hops instead of relaying them.
func (g *Gateway) SetHold(on bool) {
	g.mu.Lock()
	g.hold = on
	g.mu.Unlock()
}

func (g *Gateway) TakeHeld() []HeldHop {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.held
	g.held = nil
	return h
}

func (g *Gateway) Statuses() []int {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.relayed...)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
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
			g.held = append(g.held, HeldHop{ID: id, Body: body})
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
func (g *Gateway) relay(id string, body []byte) {
	defer g.wg.Done()
	status := 0
	for attempt := 0; attempt < 50; attempt++ {
		status = g.Deliver(id, body)
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
func (g *Gateway) Deliver(id string, body []byte) int {
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

// Result is a response read in full.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object, failing the test if it is not one.
func (r Result) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.Status, r.Body)
	}
	return m
}

// Do makes one HTTP call; headers are name, value pairs (a name may repeat).
func Do(t testing.TB, method, url string, body []byte, headers ...string) Result {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
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
	return Result{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// waitState polls /flow/<id>/state until the request reaches want.
func WaitState(t *testing.T, base, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		r := Do(t, http.MethodGet, base+"/flow/"+id+"/state", nil)
		if r.Status == http.StatusOK {
			last = r.JSON(t)
			if last["state"] == want {
				return last
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("request %s did not reach %s: last state %v", id, want, last)
	return nil
}

// CallbackReceiver records completion callbacks.
type CallbackReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []ReceivedCallback
	cond chan struct{}
}

type ReceivedCallback struct {
	Header http.Header
	Body   []byte
}

func NewCallbackReceiver(t *testing.T, failFirst int) *CallbackReceiver {
	c := &CallbackReceiver{cond: make(chan struct{}, 100)}
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
		c.got = append(c.got, ReceivedCallback{Header: r.Header.Clone(), Body: b})
		c.mu.Unlock()
		c.cond <- struct{}{}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// URL is where callbacks are to be sent.
func (c *CallbackReceiver) URL() string { return c.srv.URL }

// Wait returns the latest callback once one more has arrived.
func (c *CallbackReceiver) Wait(t *testing.T) ReceivedCallback {
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

// SecretDir writes secrets as files in a new directory, the way OpenFaaS
// mounts a function's secrets, and returns the directory.
func SecretDir(t testing.TB, secrets map[string]string) string {
	dir := t.TempDir()
	for k, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
