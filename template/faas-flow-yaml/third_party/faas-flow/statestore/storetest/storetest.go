package storetest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// Options tune the suite for one store.
type Options struct {
	// MaxTTLOverrun is how much later than its ttl a key may still be
	// visible (lease granularity, expiry sweep interval). Default 5s.
	MaxTTLOverrun time.Duration
	// CallTimeout bounds every single store call the suite makes.
	// Default 30s.
	CallTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxTTLOverrun <= 0 {
		o.MaxTTLOverrun = 5 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	return o
}

// Run runs the conformance suite. newStore must return a store that holds no
// keys (each call a fresh, isolated store); the suite calls it once per
// subtest.
func Run(t *testing.T, newStore func(t *testing.T) sdk.StateStore, opts ...Options) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s := suite{opts: o.withDefaults(), newStore: newStore}

	t.Run("Get", func(t *testing.T) {
		t.Run("missing key is ErrNotFound", s.getMissing)
		t.Run("returns value and version written", s.getReturnsWritten)
		t.Run("empty and binary values round-trip", s.binaryValues)
		t.Run("values are copies", s.valuesAreCopies)
	})
	t.Run("Create", func(t *testing.T) {
		t.Run("writes only if absent", s.createOnlyIfAbsent)
		t.Run("succeeds again after delete", s.createAfterDelete)
	})
	t.Run("CompareAndSwap", func(t *testing.T) {
		t.Run("swaps with current version", s.casCurrent)
		t.Run("fails on stale version", s.casStale)
		t.Run("fails on missing key without creating it", s.casMissing)
		t.Run("fails on a recreated key with the old version", s.casRecreated)
	})
	s.runTxn(t)
	t.Run("Versions", func(t *testing.T) {
		t.Run("change on every write", s.versionsChange)
		t.Run("List and Get agree", s.versionsListGet)
		t.Run("Create and CompareAndSwap return the version Get reports", s.versionsReturned)
	})
	t.Run("Delete", func(t *testing.T) {
		t.Run("missing key is not an error", s.deleteMissing)
		t.Run("removes the key", s.deleteRemoves)
	})
	t.Run("List", func(t *testing.T) {
		t.Run("ordered by key", s.listOrdered)
		t.Run("matches the prefix exactly", s.listPrefixExact)
		t.Run("no match is empty, not an error", s.listEmpty)
	})
	s.runListRange(t)
	s.runWatch(t)
	t.Run("DeletePrefix", func(t *testing.T) {
		t.Run("removes only that prefix", s.deletePrefixOnly)
		t.Run("missing prefix is not an error", s.deletePrefixMissing)
	})
	t.Run("Isolation", func(t *testing.T) {
		t.Run("requests and flows do not share prefixes", s.isolation)
	})
	t.Run("Concurrency", func(t *testing.T) {
		t.Run("racing Create has exactly one winner", s.raceCreate)
		t.Run("CAS increments are never lost", s.raceCAS)
		t.Run("racing CAS on one version has exactly one winner", s.raceCASOneVersion)
	})
	t.Run("TTL", func(t *testing.T) {
		t.Run("expired key is gone for Get and List", s.ttlExpires)
		t.Run("zero ttl never expires", s.ttlZero)
		t.Run("CAS replaces ttl with a shorter one", s.ttlCASShortens)
		t.Run("CAS replaces ttl with none", s.ttlCASClears)
		t.Run("Create over an expired key succeeds", s.ttlCreateAfterExpiry)
	})
	t.Run("Context", func(t *testing.T) {
		t.Run("canceled context fails every call", s.canceledContext)
	})
	t.Run("Cleanup", func(t *testing.T) {
		t.Run("leaves nothing behind", s.cleanup)
	})
}

type suite struct {
	opts     Options
	newStore func(t *testing.T) sdk.StateStore
}

// ctx returns a context bounded by the per-call timeout.
func (s suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CallTimeout)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, ctx context.Context, st sdk.StateStore, key, value string, ttl time.Duration) {
	t.Helper()
	_, created, err := st.Create(ctx, key, []byte(value), ttl)
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	if !created {
		t.Fatalf("Create(%q) = false on a fresh key", key)
	}
}

func mustGet(t *testing.T, ctx context.Context, st sdk.StateStore, key string) ([]byte, int64) {
	t.Helper()
	v, ver, err := st.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, ver
}

func wantMissing(t *testing.T, ctx context.Context, st sdk.StateStore, key string) {
	t.Helper()
	v, _, err := st.Get(ctx, key)
	if !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want error wrapping sdk.ErrNotFound", key, v, err)
	}
}

func listKeys(t *testing.T, ctx context.Context, st sdk.StateStore, prefix string) []string {
	t.Helper()
	kvs, err := st.List(ctx, prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = kv.Key
	}
	return keys
}

func equalKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s suite) getMissing(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	wantMissing(t, ctx, st, "flow/req/missing")
	mustCreate(t, ctx, st, "flow/req/present", "v", 0)
	wantMissing(t, ctx, st, "flow/req/pres")
	wantMissing(t, ctx, st, "flow/req/present/child")
}

func (s suite) getReturnsWritten(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/k", "hello", 0)
	v, ver := mustGet(t, ctx, st, "f/r/k")
	if string(v) != "hello" {
		t.Fatalf("Get = %q, want %q", v, "hello")
	}
	if ver == 0 {
		t.Fatalf("Get version = 0; versions of existing keys must be non-zero")
	}
}

func (s suite) binaryValues(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	bin := make([]byte, 4096)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	for name, val := range map[string][]byte{"empty": {}, "binary": bin, "nul": {0, 0, 0}} {
		key := "f/r/" + name
		if _, ok, err := st.Create(ctx, key, val, 0); err != nil || !ok {
			t.Fatalf("Create(%q) = %v, %v", key, ok, err)
		}
		got, _ := mustGet(t, ctx, st, key)
		if !bytes.Equal(got, val) {
			t.Fatalf("%s: Get returned %d bytes that differ from the %d written", name, len(got), len(val))
		}
	}
}

func (s suite) valuesAreCopies(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	in := []byte("original")
	mustCreateBytes(t, ctx, st, "f/r/k", in)
	in[0] = 'X'
	got, _ := mustGet(t, ctx, st, "f/r/k")
	if string(got) != "original" {
		t.Fatalf("store kept the caller's slice: Get = %q after caller modified it", got)
	}
	got[0] = 'Y'
	again, _ := mustGet(t, ctx, st, "f/r/k")
	if string(again) != "original" {
		t.Fatalf("store returned its own slice: Get = %q after caller modified the previous result", again)
	}
}

func mustCreateBytes(t *testing.T, ctx context.Context, st sdk.StateStore, key string, v []byte) {
	t.Helper()
	if _, ok, err := st.Create(ctx, key, v, 0); err != nil || !ok {
		t.Fatalf("Create(%q) = %v, %v", key, ok, err)
	}
}

func (s suite) createOnlyIfAbsent(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/k", "first", 0)
	_, ver1 := mustGet(t, ctx, st, "f/r/k")
	_, created, err := st.Create(ctx, "f/r/k", []byte("second"), 0)
	if err != nil {
		t.Fatalf("second Create: %v", err)
	}
	if created {
		t.Fatalf("second Create on an existing key reported created = true")
	}
	v, ver2 := mustGet(t, ctx, st, "f/r/k")
	if string(v) != "first" || ver2 != ver1 {
		t.Fatalf("after a losing Create: value %q version %d; want %q version %d unchanged", v, ver2, "first", ver1)
	}
}

func (s suite) createAfterDelete(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/k", "one", 0)
	if err := st.Delete(ctx, "f/r/k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustCreate(t, ctx, st, "f/r/k", "two", 0)
	if v, _ := mustGet(t, ctx, st, "f/r/k"); string(v) != "two" {
		t.Fatalf("Get = %q, want %q", v, "two")
	}
}

func (s suite) deleteMissing(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	if err := st.Delete(ctx, "f/r/never"); err != nil {
		t.Fatalf("Delete of a missing key = %v, want nil", err)
	}
}

func (s suite) deleteRemoves(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/k", "v", 0)
	mustCreate(t, ctx, st, "f/r/k2", "v", 0)
	if err := st.Delete(ctx, "f/r/k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, ctx, st, "f/r/k")
	if got := listKeys(t, ctx, st, "f/r/"); !equalKeys(got, []string{"f/r/k2"}) {
		t.Fatalf("List after Delete = %q, want [f/r/k2]", got)
	}
}

func (s suite) listOrdered(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	want := []string{"f/r/a", "f/r/a/b", "f/r/a0", "f/r/b", "f/r/b/a", "f/r/ba", "f/r/z", "f/r/~", "f/r/é"}
	order := rand.Perm(len(want))
	for _, i := range order {
		mustCreate(t, ctx, st, want[i], "v"+want[i], 0)
	}
	kvs, err := st.List(ctx, "f/r/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	got := make([]string, len(kvs))
	for i, kv := range kvs {
		got[i] = kv.Key
		if string(kv.Value) != "v"+kv.Key {
			t.Fatalf("List entry %q has value %q", kv.Key, kv.Value)
		}
	}
	if !equalKeys(got, want) {
		t.Fatalf("List = %q\nwant (byte order) %q", got, want)
	}
}

func (s suite) listPrefixExact(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	for _, k := range []string{"f/r/a", "f/r/ab", "f/r/a/b", "f/r/b", "f/r", "f/q/a", "g/r/a"} {
		mustCreate(t, ctx, st, k, "v", 0)
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"f/r/a", []string{"f/r/a", "f/r/a/b", "f/r/ab"}},
		{"f/r/a/", []string{"f/r/a/b"}},
		{"f/r/", []string{"f/r/a", "f/r/a/b", "f/r/ab", "f/r/b"}},
		{"f/r", []string{"f/r", "f/r/a", "f/r/a/b", "f/r/ab", "f/r/b"}},
		{"g/", []string{"g/r/a"}},
		{"", []string{"f/q/a", "f/r", "f/r/a", "f/r/a/b", "f/r/ab", "f/r/b", "g/r/a"}},
	}
	for _, c := range cases {
		if got := listKeys(t, ctx, st, c.prefix); !equalKeys(got, c.want) {
			t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
		}
	}
}

func (s suite) listEmpty(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/a", "v", 0)
	kvs, err := st.List(ctx, "f/s/")
	if err != nil || len(kvs) != 0 {
		t.Fatalf("List of an unused prefix = %v, %v; want empty, nil", kvs, err)
	}
}

func (s suite) deletePrefixOnly(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	for _, k := range []string{"f/r/a", "f/r/a/b", "f/r/ab", "f/r/b", "f/ra", "f/r"} {
		mustCreate(t, ctx, st, k, "v", 0)
	}
	if err := st.DeletePrefix(ctx, "f/r/a"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	if got, want := listKeys(t, ctx, st, ""), []string{"f/r", "f/r/b", "f/ra"}; !equalKeys(got, want) {
		t.Fatalf("after DeletePrefix(f/r/a): keys %q, want %q", got, want)
	}
	if err := st.DeletePrefix(ctx, "f/r/"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	if got, want := listKeys(t, ctx, st, ""), []string{"f/r", "f/ra"}; !equalKeys(got, want) {
		t.Fatalf("after DeletePrefix(f/r/): keys %q, want %q", got, want)
	}
}

func (s suite) deletePrefixMissing(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	if err := st.DeletePrefix(ctx, "f/none/"); err != nil {
		t.Fatalf("DeletePrefix of an unused prefix = %v, want nil", err)
	}
}

func (s suite) isolation(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	keys := []string{
		"flowA/req1/x", "flowA/req1/join/n1/a", "flowA/req10/x", "flowA/req1x/x",
		"flowB/req1/x", "flowAB/req1/x", "flowA/req1",
	}
	for _, k := range keys {
		mustCreate(t, ctx, st, k, k, 0)
	}
	if got, want := listKeys(t, ctx, st, "flowA/req1/"), []string{"flowA/req1/join/n1/a", "flowA/req1/x"}; !equalKeys(got, want) {
		t.Fatalf("List(flowA/req1/) = %q, want %q", got, want)
	}
	if got, want := listKeys(t, ctx, st, "flowA/"), []string{"flowA/req1", "flowA/req1/join/n1/a", "flowA/req1/x", "flowA/req10/x", "flowA/req1x/x"}; !equalKeys(got, want) {
		t.Fatalf("List(flowA/) = %q, want %q", got, want)
	}
	if err := st.DeletePrefix(ctx, "flowA/req1/"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	want := []string{"flowA/req1", "flowA/req10/x", "flowA/req1x/x", "flowAB/req1/x", "flowB/req1/x"}
	if got := listKeys(t, ctx, st, ""); !equalKeys(got, want) {
		t.Fatalf("after DeletePrefix(flowA/req1/): keys %q, want %q", got, want)
	}
	for _, k := range want {
		if v, _ := mustGet(t, ctx, st, k); string(v) != k {
			t.Fatalf("Get(%q) = %q after another request's cleanup", k, v)
		}
	}
	if err := st.DeletePrefix(ctx, "flowA/"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	if got, want := listKeys(t, ctx, st, ""), []string{"flowAB/req1/x", "flowB/req1/x"}; !equalKeys(got, want) {
		t.Fatalf("after DeletePrefix(flowA/): keys %q, want %q", got, want)
	}
}

func (s suite) canceledContext(t *testing.T) {
	st := s.newStore(t)
	mustCreate(t, s.ctx(t), st, "f/r/k", "v", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"Get":            func() error { _, _, err := st.Get(ctx, "f/r/k"); return err },
		"Create":         func() error { _, _, err := st.Create(ctx, "f/r/new", []byte("v"), 0); return err },
		"CompareAndSwap": func() error { _, _, err := st.CompareAndSwap(ctx, "f/r/k", 1, []byte("v"), 0); return err },
		"Delete":         func() error { return st.Delete(ctx, "f/r/k") },
		"List":           func() error { _, err := st.List(ctx, "f/"); return err },
		"DeletePrefix":   func() error { return st.DeletePrefix(ctx, "f/") },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s with a canceled context returned nil error", name)
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want an error wrapping context.Canceled", name, err)
		}
	}
	if v, _ := mustGet(t, s.ctx(t), st, "f/r/k"); string(v) != "v" {
		t.Fatalf("key changed by canceled calls: %q", v)
	}
	wantMissing(t, s.ctx(t), st, "f/r/new")
}

func (s suite) cleanup(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	requests := []string{"flowA/req1/", "flowA/req2/", "flowB/req1/"}
	for _, r := range requests {
		for _, k := range []string{"request", "node/n1", "node/n2", "join/n3/from/n1", "join/n3/from/n2", "branch/0/done"} {
			ttl := time.Duration(0)
			if k == "request" {
				ttl = time.Hour
			}
			mustCreate(t, ctx, st, r+k, "v", ttl)
		}
	}
	for i, r := range requests {
		if err := st.DeletePrefix(ctx, r); err != nil {
			t.Fatalf("DeletePrefix(%q): %v", r, err)
		}
		if got := listKeys(t, ctx, st, r); len(got) != 0 {
			t.Fatalf("after DeletePrefix(%q) keys remain: %q", r, got)
		}
		remaining := listKeys(t, ctx, st, "")
		if want := 6 * (len(requests) - i - 1); len(remaining) != want {
			t.Fatalf("after cleaning %d requests, %d keys remain (%q), want %d", i+1, len(remaining), remaining, want)
		}
	}
	if got := listKeys(t, ctx, st, ""); len(got) != 0 {
		t.Fatalf("store not empty after cleanup: %q", got)
	}
}
