package gatewayhttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/transport/gatewayhttp"
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
		got.path, got.ct, got.id, got.body = r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get("X-Faas-Flow-Reqid"), b
		got.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer gw.Close()
	tr := &gatewayhttp.Transport{Gateway: gw.URL, Flow: "my-flow.ns", Client: &http.Client{}}
	if err := tr.Send(context.Background(), "req 1", []byte(`{"v":1}`)); err != nil {
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
			tr := &gatewayhttp.Transport{Gateway: gw.URL, Flow: "f", Timeout: 5 * time.Second}
			err := tr.Send(context.Background(), "r", []byte("{}"))
			if (err != nil) != tc.wantErr || calls.Load() != tc.calls {
				t.Fatalf("err = %v, calls = %d; want error %v after %d calls", err, calls.Load(), tc.wantErr, tc.calls)
			}
			if err != nil && (!errors.Is(err, gatewayhttp.ErrNotAccepted) || !strings.Contains(err.Error(), "gateway says no")) {
				t.Fatalf("error %v lacks ErrForward or the body", err)
			}
		})
	}
}

func TestGatewayTransportGivesUpAtItsTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused every time
	tr := &gatewayhttp.Transport{Gateway: "http://" + addr, Flow: "f", Timeout: 300 * time.Millisecond}
	start := time.Now()
	err = tr.Send(context.Background(), "r", []byte("{}"))
	if !errors.Is(err, gatewayhttp.ErrNotAccepted) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want ErrNotAccepted with the last attempt's error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}
}
