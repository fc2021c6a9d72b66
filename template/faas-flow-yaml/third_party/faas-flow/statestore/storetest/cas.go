package storetest

import (
	"bytes"
	"strconv"
	"testing"
)

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
