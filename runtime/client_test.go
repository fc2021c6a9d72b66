package runtime_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

func TestGatewayTransportPostsToTheAsyncForwardPath(t *testing.T) {
	var got struct {
		sync.Mutex
		path, ct, id string
		body         []byte
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Lock()
		got.path, got.ct, got.id, got.body = r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get(runtime.HeaderRequestID), b
		got.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer gw.Close()
	tr := &runtime.GatewayTransport{Gateway: gw.URL, Flow: "my-flow.ns", Client: runtime.NewHTTPClient()}
	if err := tr.Forward(context.Background(), "req 1", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	got.Lock()
	defer got.Unlock()
	if got.path != "/async-function/my-flow.ns/flow/req%201/forward" || got.ct != "application/json" || got.id != "req 1" || string(got.body) != `{"v":1}` {
		t.Fatalf("got %s %s %s %s", got.path, got.ct, got.id, got.body)
	}
}

func TestGatewayTransportRetriesTransientFailures(t *testing.T) {
	cases := []struct {
		name     string
		statuses []int
		wantErr  bool
		calls    int32
	}{
		{"503 then 202", []int{503, 503, 202}, false, 3},
		{"429 then 200", []int{429, 200}, false, 2},
		{"400 fails at once", []int{400, 202}, true, 1},
		{"404 fails at once", []int{404}, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				w.WriteHeader(tc.statuses[min(int(n)-1, len(tc.statuses)-1)])
				_, _ = io.WriteString(w, "gateway says no")
			}))
			defer gw.Close()
			tr := &runtime.GatewayTransport{Gateway: gw.URL, Flow: "f", Timeout: 5 * time.Second}
			err := tr.Forward(context.Background(), "r", []byte("{}"))
			if (err != nil) != tc.wantErr || calls.Load() != tc.calls {
				t.Fatalf("err = %v, calls = %d; want error %v after %d calls", err, calls.Load(), tc.wantErr, tc.calls)
			}
			if err != nil && (!errors.Is(err, runtime.ErrForward) || !strings.Contains(err.Error(), "gateway says no")) {
				t.Fatalf("error %v lacks ErrForward or the body", err)
			}
		})
	}
}

func TestGatewayTransportGivesUpAtItsTimeout(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused every time
	tr := &runtime.GatewayTransport{Gateway: "http://" + addr, Flow: "f", Timeout: 300 * time.Millisecond}
	start := time.Now()
	err := tr.Forward(context.Background(), "r", []byte("{}"))
	if !errors.Is(err, runtime.ErrForward) || runtime.StatusOf(err) != http.StatusBadGateway {
		t.Fatalf("err = %v (status %d)", err, runtime.StatusOf(err))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestHTTPInvoker(t *testing.T) {
	type seen struct {
		method, path, query, header, reqid string
		body                               string
	}
	var mu sync.Mutex
	var last seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Api-Key"), r.Header.Get(runtime.HeaderRequestID), string(b)}
		mu.Unlock()
		switch r.URL.Path {
		case "/function/missing":
			http.Error(w, "no such function", 404)
		case "/function/broken":
			http.Error(w, "exploded", 500)
		case "/function/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 100)))
		default:
			_, _ = w.Write([]byte("out:" + string(b)))
		}
	}))
	defer srv.Close()
	inv := &runtime.HTTPInvoker{Gateway: srv.URL, Client: runtime.NewHTTPClient(), DefaultMethod: "POST", MaxResponse: 50}
	opts := func(o ...faasflow.Option) *faasflow.Options {
		var res faasflow.Options
		for _, f := range o {
			f(&res)
		}
		return &res
	}
	call := func(kind faasflow.OpKind, target string, o *faasflow.Options) ([]byte, error) {
		return inv.Invoke(context.Background(), &engine.Call{Kind: kind, Target: target, Data: []byte("in"), Options: o, RequestID: "rid"})
	}

	t.Run("apply posts to the gateway with query and headers", func(t *testing.T) {
		out, err := call(faasflow.OpFunction, "fn", opts(faasflow.Query("q", "a b&c", "2"), faasflow.Header("X-Api-Key", "k")))
		if err != nil || string(out) != "out:in" {
			t.Fatalf("%q %v", out, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if last.method != "POST" || last.path != "/function/fn" || last.query != "q=a+b%26c&q=2" || last.header != "k" || last.reqid != "rid" {
			t.Fatalf("seen %+v", last)
		}
	})
	t.Run("method header overrides", func(t *testing.T) {
		if _, err := call(faasflow.OpFunction, "fn", opts(faasflow.Header("method", "put"))); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if last.method != "PUT" {
			t.Fatalf("method %s", last.method)
		}
	})
	t.Run("request calls the URL", func(t *testing.T) {
		out, err := call(faasflow.OpRequest, srv.URL+"/api?x=1", opts(faasflow.Query("y", "2")))
		if err != nil || string(out) != "out:in" {
			t.Fatal(out, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if last.path != "/api" || last.query != "x=1&y=2" {
			t.Fatalf("seen %+v", last)
		}
	})
	t.Run("4xx is a permanent CallError with the body", func(t *testing.T) {
		_, err := call(faasflow.OpFunction, "missing", nil)
		var ce *runtime.CallError
		if !errors.As(err, &ce) || ce.Status != 404 || !strings.Contains(err.Error(), "no such function") || !faasflow.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("5xx is a retryable CallError", func(t *testing.T) {
		_, err := call(faasflow.OpFunction, "broken", nil)
		var ce *runtime.CallError
		if !errors.As(err, &ce) || ce.Status != 500 || faasflow.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("response larger than the limit", func(t *testing.T) {
		if _, err := call(faasflow.OpFunction, "big", nil); err == nil || !strings.Contains(err.Error(), "max_response_size") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("request and response handlers", func(t *testing.T) {
		out, err := call(faasflow.OpFunction, "missing", opts(
			faasflow.RequestHandler(func(r *http.Request) { r.Header.Set("X-Api-Key", "from-handler") }),
			faasflow.OnResponse(func(resp *http.Response) ([]byte, error) {
				return []byte("status " + resp.Status[:3]), nil
			}),
		))
		if err != nil || string(out) != "status 404" {
			t.Fatalf("%q %v", out, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if last.header != "from-handler" {
			t.Fatalf("request handler not applied: %+v", last)
		}
	})
	t.Run("panicking handler is an error", func(t *testing.T) {
		_, err := call(faasflow.OpFunction, "fn", opts(faasflow.RequestHandler(func(*http.Request) { panic("oops") })))
		if !errors.Is(err, engine.ErrPanic) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad URL is permanent", func(t *testing.T) {
		if _, err := call(faasflow.OpRequest, "ftp://x", nil); !faasflow.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("context deadline bounds the call", func(t *testing.T) {
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}))
		defer slow.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := inv.Invoke(ctx, &engine.Call{Kind: faasflow.OpRequest, Target: slow.URL})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCallbackNotifierRetriesAndSigns(t *testing.T) {
	cb := newCallbackReceiver(t, 2)
	n := runtime.NewCallbackNotifier(runtime.NotifierOptions{Key: []byte("k"), Attempts: 4, Timeout: time.Second})
	defer n.Close(context.Background())
	err := n.Notify(context.Background(), engine.Completion{URL: cb.srv.URL, Flow: "f", RequestID: "r1", State: "failed", Result: []byte("partial"), Error: "node b failed:\nboom"})
	if err != nil {
		t.Fatal(err)
	}
	got := cb.wait(t)
	if string(got.body) != "partial" || got.header.Get(runtime.HeaderState) != "failed" || got.header.Get(runtime.HeaderError) != "node b failed: boom" ||
		got.header.Get(runtime.HeaderFlow) != "f" || !runtime.VerifySignature([]byte("k"), got.body, got.header.Get(runtime.HeaderSignature)) {
		t.Fatalf("callback %q %v", got.body, got.header)
	}
}

func TestCallbackNotifierGivesUpAfterItsAttempts(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(502)
	}))
	defer srv.Close()
	n := runtime.NewCallbackNotifier(runtime.NotifierOptions{Attempts: 2, Timeout: time.Second})
	if err := n.Notify(context.Background(), engine.Completion{URL: srv.URL, RequestID: "r"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("calls = %d, want 2", calls.Load())
	}
	if err := n.Notify(context.Background(), engine.Completion{URL: srv.URL}); err == nil {
		t.Fatal("Notify after Close succeeded")
	}
}

func TestCallbackNotifierQueueIsBounded(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	n := runtime.NewCallbackNotifier(runtime.NotifierOptions{Workers: 1, Queue: 1, Attempts: 1, Timeout: 5 * time.Second})
	var busy error
	for i := 0; i < 5 && busy == nil; i++ {
		busy = n.Notify(context.Background(), engine.Completion{URL: srv.URL})
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(busy, runtime.ErrNotifierBusy) {
		t.Fatalf("err = %v, want ErrNotifierBusy", busy)
	}
}
