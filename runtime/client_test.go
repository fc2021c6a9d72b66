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
	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

func TestHTTPInvoker(t *testing.T) {
	type seen struct {
		method, path, query, Header, reqid string
		Body                               string
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
		if last.method != "POST" || last.path != "/function/fn" || last.query != "q=a+b%26c&q=2" || last.Header != "k" || last.reqid != "rid" {
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
		if last.Header != "from-handler" {
			t.Fatalf("request handler not applied: %+v", last)
		}
	})
	t.Run("panicking handler is an error", func(t *testing.T) {
		_, err := call(faasflow.OpFunction, "fn", opts(faasflow.RequestHandler(func(*http.Request) { panic("oops") })))
		if !errors.Is(err, faasflow.ErrPanic) {
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
	cb := fakegateway.NewCallbackReceiver(t, 2)
	n := runtime.NewCallbackNotifier(runtime.NotifierOptions{Key: []byte("k"), Attempts: 4, Timeout: time.Second})
	defer n.Close(context.Background())
	err := n.Notify(context.Background(), engine.Completion{URL: cb.URL(), Flow: "f", RequestID: "r1", State: "failed", Result: []byte("partial"), Error: "node b failed:\nboom"})
	if err != nil {
		t.Fatal(err)
	}
	got := cb.Wait(t)
	if string(got.Body) != "partial" || got.Header.Get(runtime.HeaderState) != "failed" || got.Header.Get(runtime.HeaderError) != "node b failed: boom" ||
		got.Header.Get(runtime.HeaderFlow) != "f" ||
		runtime.VerifyCallback([]byte("k"), got.Header.Get(runtime.HeaderSignature), "r1", "failed", got.Body, time.Now(), runtime.CallbackWindow) != nil {
		t.Fatalf("callback %q %v", got.Body, got.Header)
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
