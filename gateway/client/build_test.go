package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/remotebuild"
)

// busyBuilder is a remote builder that answers the first busy requests 429
// with Retry-After retryAfter, then checks the signature under secret and
// answers a successful build. It counts the requests and records when
// each came.
type busyBuilder struct {
	secret     []byte
	busy       int32
	retryAfter string
	calls      atomic.Int32
	times      chan time.Time
}

func (b *busyBuilder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := b.calls.Add(1)
	b.times <- time.Now()
	if n <= b.busy {
		w.Header().Set("Retry-After", b.retryAfter)
		http.Error(w, "busy", http.StatusTooManyRequests)
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := remotebuild.Verify(payload, b.secret, r.Header.Get(api.HeaderBuildSignature)); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	_ = json.NewEncoder(w).Encode(api.BuildResult{Log: []string{"built"}, Image: "img:1", Status: api.BuildSuccess})
}

// contextDir is a small build context.
func contextDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBuildWaitsAsRetryAfterSaysWhileTheBuilderIsBusy(t *testing.T) {
	secret := []byte("s")
	b := &busyBuilder{secret: secret, busy: 2, retryAfter: "1", times: make(chan time.Time, 10)}
	srv := httptest.NewServer(b)
	defer srv.Close()
	var progress strings.Builder
	if err := New(srv.URL, "", "").Build(context.Background(), contextDir(t), "img:1", secret, &progress); err != nil {
		t.Fatalf("Build = %v, want success after the builder is free", err)
	}
	if got := b.calls.Load(); got != 3 {
		t.Fatalf("builder saw %d requests, want 3 (two refused, one built)", got)
	}
	first, second, third := <-b.times, <-b.times, <-b.times
	// Retry-After is 1 s: a retry sooner than that did not wait.
	if d := second.Sub(first); d < 900*time.Millisecond {
		t.Errorf("second attempt %s after the first, want about 1s", d)
	}
	if d := third.Sub(second); d < 900*time.Millisecond {
		t.Errorf("third attempt %s after the second, want about 1s", d)
	}
	if !strings.Contains(progress.String(), "builder is busy") || !strings.Contains(progress.String(), "built") {
		t.Errorf("progress = %q, want the waits and the build", progress.String())
	}
}

func TestBuildGivesUpWaitingForABusyBuilderWhenItsContextEnds(t *testing.T) {
	b := &busyBuilder{secret: []byte("s"), busy: 1 << 30, retryAfter: "30", times: make(chan time.Time, 10)}
	srv := httptest.NewServer(b)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := New(srv.URL, "", "").Build(ctx, contextDir(t), "img:1", []byte("s"), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Build = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("Build returned after %s, want soon after its context ended", d)
	}
}

func TestBusyWaitFollowsRetryAfterWithinBounds(t *testing.T) {
	tests := map[string]time.Duration{
		"":      10 * time.Second,
		"0":     10 * time.Second,
		"-3":    10 * time.Second,
		"soon":  10 * time.Second,
		"3":     3 * time.Second,
		" 7 ":   7 * time.Second,
		"86400": time.Minute,
	}
	for header, want := range tests {
		if got := busyWait(header); got != want {
			t.Errorf("busyWait(%q) = %s, want %s", header, got, want)
		}
	}
}
