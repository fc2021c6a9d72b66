package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPprofAddrServesTheProfilerUntilTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := servePprof(ctx, "127.0.0.1:0", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "heap profile") {
		t.Fatalf("GET heap profile: %d %.100s", resp.StatusCode, b)
	}
	cancel()
	c := http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := c.Get("http://" + addr + "/debug/pprof/"); err != nil {
			return
		}
	}
	t.Fatal("the profiler still answers after its context ended")
}

func TestPprofAddrRefusesAnAddressItCannotListenOn(t *testing.T) {
	if _, err := servePprof(context.Background(), "256.0.0.1:1", io.Discard); err == nil || !strings.Contains(err.Error(), "--pprof-addr") {
		t.Fatalf("err = %v, want a --pprof-addr error", err)
	}
}
