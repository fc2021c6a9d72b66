package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
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

// Concurrency is the number of goroutines the race tests use.
const Concurrency = 64

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
	t.Run("Txn", func(t *testing.T) {
		t.Run("swaps, reads and creates in one step", s.txnClaim)
		t.Run("a failed swap writes nothing but reads", s.txnStaleSwap)
		t.Run("a create of an existing key returns it and stops nothing", s.txnCreateExisting)
		t.Run("reads see the writes before them", s.txnReadsOwnWrites)
		t.Run("count agrees with List", s.txnCountAgreesWithList)
		t.Run("writing a key twice is an error", s.txnDuplicateWrite)
		t.Run("racing creates and counts see every arrival once", s.txnRaceArrivals)
		t.Run("writes honour their ttl", s.txnTTL)
	})
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

func (s suite) casCurrent(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/k", "a", 0)
	_, ver := mustGet(t, ctx, st, "f/r/k")
	_, swapped, err := st.CompareAndSwap(ctx, "f/r/k", ver, []byte("b"), 0)
	if err != nil || !swapped {
		t.Fatalf("CompareAndSwap with current version = %v, %v; want true, nil", swapped, err)
	}
	if v, _ := mustGet(t, ctx, st, "f/r/k"); string(v) != "b" {
		t.Fatalf("Get after swap = %q, want %q", v, "b")
	}
}

func (s suite) casStale(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/k", "a", 0)
	_, stale := mustGet(t, ctx, st, "f/r/k")
	if _, ok, err := st.CompareAndSwap(ctx, "f/r/k", stale, []byte("b"), 0); err != nil || !ok {
		t.Fatalf("first CompareAndSwap = %v, %v", ok, err)
	}
	_, swapped, err := st.CompareAndSwap(ctx, "f/r/k", stale, []byte("c"), 0)
	if err != nil {
		t.Fatalf("stale CompareAndSwap: %v", err)
	}
	if swapped {
		t.Fatalf("CompareAndSwap with a stale version reported swapped = true")
	}
	if v, _ := mustGet(t, ctx, st, "f/r/k"); string(v) != "b" {
		t.Fatalf("Get after stale swap = %q, want %q", v, "b")
	}
	// A version that was never issued must not match either.
	_, cur := mustGet(t, ctx, st, "f/r/k")
	for _, bogus := range []int64{cur + 1000, -1, 0} {
		if _, ok, err := st.CompareAndSwap(ctx, "f/r/k", bogus, []byte("d"), 0); err != nil || ok {
			t.Fatalf("CompareAndSwap(version %d) = %v, %v; want false, nil", bogus, ok, err)
		}
	}
}

func (s suite) casMissing(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	// Learn a real version from another key so the guess is plausible.
	mustCreate(t, ctx, st, "f/r/other", "x", 0)
	_, ver := mustGet(t, ctx, st, "f/r/other")
	for _, v := range []int64{0, ver, ver + 1} {
		_, swapped, err := st.CompareAndSwap(ctx, "f/r/missing", v, []byte("b"), 0)
		if err != nil || swapped {
			t.Fatalf("CompareAndSwap(missing, version %d) = %v, %v; want false, nil", v, swapped, err)
		}
		wantMissing(t, ctx, st, "f/r/missing")
	}
}

func (s suite) casRecreated(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "f/r/k", "a", 0)
	_, old := mustGet(t, ctx, st, "f/r/k")
	if err := st.Delete(ctx, "f/r/k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok, err := st.CompareAndSwap(ctx, "f/r/k", old, []byte("b"), 0); err != nil || ok {
		t.Fatalf("CompareAndSwap on a deleted key = %v, %v; want false, nil", ok, err)
	}
	mustCreate(t, ctx, st, "f/r/k", "a", 0)
	if _, ok, err := st.CompareAndSwap(ctx, "f/r/k", old, []byte("b"), 0); err != nil || ok {
		t.Fatalf("CompareAndSwap on a recreated key with the old version = %v, %v; want false, nil", ok, err)
	}
}

func (s suite) versionsChange(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	seen := map[int64]string{}
	note := func(step string) int64 {
		t.Helper()
		_, v := mustGet(t, ctx, st, "f/r/k")
		if prev, dup := seen[v]; dup {
			t.Fatalf("version %d after %s equals the version after %s", v, step, prev)
		}
		seen[v] = step
		return v
	}
	mustCreate(t, ctx, st, "f/r/k", "same", 0)
	v := note("create")
	for i := 0; i < 3; i++ {
		// Writing the same bytes again must still change the version.
		if _, ok, err := st.CompareAndSwap(ctx, "f/r/k", v, []byte("same"), 0); err != nil || !ok {
			t.Fatalf("CompareAndSwap %d = %v, %v", i, ok, err)
		}
		v = note("swap " + strconv.Itoa(i))
	}
	if err := st.Delete(ctx, "f/r/k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustCreate(t, ctx, st, "f/r/k", "same", 0)
	note("re-create")
}

func (s suite) versionsListGet(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	for _, k := range []string{"f/r/a", "f/r/b"} {
		mustCreate(t, ctx, st, k, k, 0)
	}
	kvs, err := st.List(ctx, "f/r/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, kv := range kvs {
		v, ver := mustGet(t, ctx, st, kv.Key)
		if ver != kv.Version || !bytes.Equal(v, kv.Value) {
			t.Fatalf("List entry %q = (%q, %d), Get = (%q, %d)", kv.Key, kv.Value, kv.Version, v, ver)
		}
		if _, ok, err := st.CompareAndSwap(ctx, kv.Key, kv.Version, []byte("x"), 0); err != nil || !ok {
			t.Fatalf("CompareAndSwap with the List version = %v, %v", ok, err)
		}
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

func (s suite) raceCreate(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	for round := 0; round < 3; round++ {
		key := fmt.Sprintf("f/r/join/fired-%d", round)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			winners = make(chan int, Concurrency)
			errs    = make(chan error, Concurrency)
		)
		for i := 0; i < Concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, created, err := st.Create(ctx, key, []byte(strconv.Itoa(i)), 0)
				if err != nil {
					errs <- err
					return
				}
				if created {
					winners <- i
				}
			}()
		}
		close(start)
		wg.Wait()
		close(winners)
		close(errs)
		for err := range errs {
			t.Fatalf("racing Create: %v", err)
		}
		var won []int
		for w := range winners {
			won = append(won, w)
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d goroutines won Create (%v), want exactly 1", round, len(won), won)
		}
		if v, _ := mustGet(t, ctx, st, key); string(v) != strconv.Itoa(won[0]) {
			t.Fatalf("stored value %q, but the winner was %d", v, won[0])
		}
	}
}

func (s suite) raceCAS(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	const key = "f/r/counter"
	mustCreate(t, ctx, st, key, "0", 0)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, Concurrency)
	)
	for i := 0; i < Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				v, ver, err := st.Get(ctx, key)
				if err != nil {
					errs <- err
					return
				}
				n, err := strconv.Atoi(string(v))
				if err != nil {
					errs <- fmt.Errorf("counter holds %q: %w", v, err)
					return
				}
				_, ok, err := st.CompareAndSwap(ctx, key, ver, []byte(strconv.Itoa(n+1)), 0)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("CAS increment: %v", err)
	}
	if v, _ := mustGet(t, ctx, st, key); string(v) != strconv.Itoa(Concurrency) {
		t.Fatalf("counter = %s after %d increments", v, Concurrency)
	}
}

func (s suite) raceCASOneVersion(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	const key = "f/r/state"
	mustCreate(t, ctx, st, key, "running", 0)
	_, ver := mustGet(t, ctx, st, key)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	start := make(chan struct{})
	for i := 0; i < Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, ok, err := st.CompareAndSwap(ctx, key, ver, []byte("failed-"+strconv.Itoa(i)), 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				won++
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("racing CompareAndSwap: %v", errs[0])
	}
	if won != 1 {
		t.Fatalf("%d goroutines swapped the same version, want exactly 1", won)
	}
}

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

func (s suite) versionsReturned(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	v1, ok, err := st.Create(ctx, "f/r/ret", []byte("a"), 0)
	if err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	if _, got, err := st.Get(ctx, "f/r/ret"); err != nil || got != v1 {
		t.Fatalf("Create returned version %d, Get reports %d (%v)", v1, got, err)
	}
	v2, ok, err := st.CompareAndSwap(ctx, "f/r/ret", v1, []byte("b"), 0)
	if err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v", ok, err)
	}
	if _, got, err := st.Get(ctx, "f/r/ret"); err != nil || got != v2 || v2 == v1 {
		t.Fatalf("CompareAndSwap returned version %d (previous %d), Get reports %d (%v)", v2, v1, got, err)
	}
	if v, ok, err := st.Create(ctx, "f/r/ret", []byte("c"), 0); err != nil || ok || v != 0 {
		t.Fatalf("Create of an existing key = %d, %v, %v; want 0, false, nil", v, ok, err)
	}
	if v, ok, err := st.CompareAndSwap(ctx, "f/r/ret", v1, []byte("c"), 0); err != nil || ok || v != 0 {
		t.Fatalf("stale CompareAndSwap = %d, %v, %v; want 0, false, nil", v, ok, err)
	}
}
