package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// waitGone polls until key is missing from Get and from List of its prefix,
// failing if that takes longer than deadline.
func (s suite) waitGone(t *testing.T, ctx context.Context, st sdk.StateStore, key, prefix string, deadline time.Time) {
	t.Helper()
	for {
		_, _, err := st.Get(ctx, key)
		gone := errors.Is(err, sdk.ErrNotFound)
		if err != nil && !gone {
			t.Fatalf("Get(%q): %v", key, err)
		}
		if gone {
			for _, k := range listKeys(t, ctx, st, prefix) {
				if k == key {
					t.Fatalf("Get(%q) reports it expired but List(%q) still returns it", key, prefix)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %q still present %v after its ttl passed", key, s.opts.MaxTTLOverrun)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantAliveUntil checks that key is present while less than ttl has passed
// since start (expiring early is a bug), as far as timing allows.
func wantAlive(t *testing.T, ctx context.Context, st sdk.StateStore, key string, start time.Time, ttl time.Duration) {
	t.Helper()
	_, _, err := st.Get(ctx, key)
	elapsed := time.Since(start)
	if errors.Is(err, sdk.ErrNotFound) && elapsed < ttl {
		t.Fatalf("key %q expired after %v, earlier than its ttl %v", key, elapsed, ttl)
	}
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Get(%q): %v", key, err)
	}
}

const shortTTL = 2 * time.Second

func (s suite) ttlExpires(t *testing.T) {
	t.Parallel()
	st, ctx := s.newStore(t), s.ctx(t)
	start := time.Now()
	mustCreate(t, ctx, st, "f/r/lease/short", "v", shortTTL)
	wantAlive(t, ctx, st, "f/r/lease/short", start, shortTTL)
	time.Sleep(shortTTL / 2)
	wantAlive(t, ctx, st, "f/r/lease/short", start, shortTTL)
	if got := listKeys(t, ctx, st, "f/r/lease/"); time.Since(start) < shortTTL && len(got) != 1 {
		t.Fatalf("List before expiry = %q", got)
	}
	s.waitGone(t, ctx, st, "f/r/lease/short", "f/r/lease/", start.Add(shortTTL+s.opts.MaxTTLOverrun))
}

func (s suite) ttlZero(t *testing.T) {
	t.Parallel()
	st, ctx := s.newStore(t), s.ctx(t)
	start := time.Now()
	mustCreate(t, ctx, st, "f/r/forever", "v", 0)
	mustCreate(t, ctx, st, "f/r/short", "v", shortTTL)
	s.waitGone(t, ctx, st, "f/r/short", "f/r/", start.Add(shortTTL+s.opts.MaxTTLOverrun))
	if v, _ := mustGet(t, ctx, st, "f/r/forever"); string(v) != "v" {
		t.Fatalf("ttl 0 key = %q", v)
	}
}

func (s suite) ttlCASShortens(t *testing.T) {
	t.Parallel()
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/k", "v", 0)
	_, ver := mustGet(t, ctx, st, "f/r/k")
	start := time.Now()
	if _, ok, err := st.CompareAndSwap(ctx, "f/r/k", ver, []byte("w"), shortTTL); err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v", ok, err)
	}
	wantAlive(t, ctx, st, "f/r/k", start, shortTTL)
	s.waitGone(t, ctx, st, "f/r/k", "f/r/", start.Add(shortTTL+s.opts.MaxTTLOverrun))
}

func (s suite) ttlCASClears(t *testing.T) {
	t.Parallel()
	st, ctx := s.newStore(t), s.ctx(t)
	start := time.Now()
	mustCreate(t, ctx, st, "f/r/k", "v", shortTTL)
	mustCreate(t, ctx, st, "f/r/probe", "v", shortTTL)
	_, ver := mustGet(t, ctx, st, "f/r/k")
	if _, ok, err := st.CompareAndSwap(ctx, "f/r/k", ver, []byte("w"), 0); err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v", ok, err)
	}
	// Once a key with the original ttl has expired, the swapped one must
	// still be there.
	s.waitGone(t, ctx, st, "f/r/probe", "f/r/", start.Add(shortTTL+s.opts.MaxTTLOverrun))
	time.Sleep(500 * time.Millisecond)
	if v, _ := mustGet(t, ctx, st, "f/r/k"); string(v) != "w" {
		t.Fatalf("Get after CAS with ttl 0 = %q, want %q", v, "w")
	}
}

func (s suite) ttlCreateAfterExpiry(t *testing.T) {
	t.Parallel()
	st, ctx := s.newStore(t), s.ctx(t)
	start := time.Now()
	mustCreate(t, ctx, st, "f/r/k", "old", shortTTL)
	s.waitGone(t, ctx, st, "f/r/k", "f/r/", start.Add(shortTTL+s.opts.MaxTTLOverrun))
	mustCreate(t, ctx, st, "f/r/k", "new", 0)
	if v, _ := mustGet(t, ctx, st, "f/r/k"); string(v) != "new" {
		t.Fatalf("Get = %q, want %q", v, "new")
	}
}
