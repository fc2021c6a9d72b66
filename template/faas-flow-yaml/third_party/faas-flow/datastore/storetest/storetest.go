package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// Options tune the suite for one store.
type Options struct {
	// LargeSize is the size of the large-payload round trip. Default 64 MiB.
	LargeSize int
	// CallTimeout bounds every store call the suite makes. Default 2m.
	CallTimeout time.Duration
	// Leftovers, when set, lists whatever the store still holds physically
	// (object names, files, directories); the cleanup test requires it to be
	// empty after every prefix was deleted. Without it cleanup is checked
	// through Get only.
	Leftovers func(t *testing.T, st sdk.DataStore) []string
}

func (o Options) withDefaults() Options {
	if o.LargeSize <= 0 {
		o.LargeSize = 64 << 20
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 2 * time.Minute
	}
	return o
}

// Concurrency is the number of concurrent writers in the race test.
const Concurrency = 64

// Run runs the conformance suite. newStore must return an empty store, a
// fresh one on every call; the suite calls it once per subtest.
func Run(t *testing.T, newStore func(t *testing.T) sdk.DataStore, opts ...Options) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s := suite{opts: o.withDefaults(), newStore: newStore}
	t.Run("Get", func(t *testing.T) {
		t.Run("missing key is ErrNotFound", s.getMissing)
		t.Run("returns what was put", s.roundTrip)
		t.Run("values are copies", s.copies)
	})
	t.Run("Put", func(t *testing.T) {
		t.Run("overwrite replaces the value", s.overwrite)
		t.Run("a key and keys below it coexist", s.nested)
	})
	t.Run("Delete", func(t *testing.T) {
		t.Run("removes the key only", s.deleteRemoves)
		t.Run("missing key is not an error", s.deleteMissing)
	})
	t.Run("DeletePrefix", func(t *testing.T) {
		t.Run("removes only that prefix", s.deletePrefix)
		t.Run("missing prefix is not an error", s.deletePrefixMissing)
	})
	t.Run("Isolation", func(t *testing.T) {
		t.Run("requests and flows do not share prefixes", s.isolation)
		t.Run("hostile keys stay inside their prefix", s.hostileKeys)
	})
	t.Run("Concurrency", func(t *testing.T) {
		t.Run("concurrent writers leave one whole value", s.concurrentWriters)
	})
	t.Run("Large", func(t *testing.T) {
		t.Run("payload round-trips intact", s.large)
	})
	t.Run("Context", func(t *testing.T) {
		t.Run("canceled context fails every call", s.canceled)
	})
	t.Run("Cleanup", func(t *testing.T) {
		t.Run("leaves nothing behind", s.cleanup)
	})
}

type suite struct {
	opts     Options
	newStore func(t *testing.T) sdk.DataStore
}

func (s suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CallTimeout)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, ctx context.Context, st sdk.DataStore, key string, v []byte) {
	t.Helper()
	if err := st.Put(ctx, key, v); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(v), err)
	}
}

func wantValue(t *testing.T, ctx context.Context, st sdk.DataStore, key string, want []byte) {
	t.Helper()
	got, err := st.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %s, want %s", key, show(got), show(want))
	}
}

func wantMissing(t *testing.T, ctx context.Context, st sdk.DataStore, key string) {
	t.Helper()
	got, err := st.Get(ctx, key)
	if !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Get(%q) = %s, %v; want an error wrapping sdk.ErrNotFound", key, show(got), err)
	}
}

func show(b []byte) string {
	if len(b) <= 64 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%d bytes (sha256 %x)", len(b), sha256.Sum256(b))
}

func (s suite) getMissing(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	wantMissing(t, ctx, st, "f/r/missing")
	mustPut(t, ctx, st, "f/r/present", []byte("v"))
	wantMissing(t, ctx, st, "f/r/pres")
	wantMissing(t, ctx, st, "f/r/present/below")
}

func (s suite) roundTrip(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	bin := make([]byte, 300<<10)
	for i := range bin {
		bin[i] = byte(i*31 + i>>8)
	}
	for name, v := range map[string][]byte{"empty": {}, "text": []byte("hello"), "binary": bin, "zeros": make([]byte, 1000)} {
		mustPut(t, ctx, st, "f/r/"+name, v)
	}
	for name, v := range map[string][]byte{"empty": {}, "text": []byte("hello"), "binary": bin, "zeros": make([]byte, 1000)} {
		wantValue(t, ctx, st, "f/r/"+name, v)
	}
}

func (s suite) copies(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	in := []byte("original")
	mustPut(t, ctx, st, "f/r/k", in)
	in[0] = 'X'
	got, err := st.Get(ctx, "f/r/k")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "original" {
		t.Fatalf("store kept the caller's slice: Get = %q", got)
	}
	got[0] = 'Y'
	wantValue(t, ctx, st, "f/r/k", []byte("original"))
}

func (s suite) overwrite(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustPut(t, ctx, st, "f/r/k", bytes.Repeat([]byte("long "), 1000))
	mustPut(t, ctx, st, "f/r/k", []byte("short"))
	wantValue(t, ctx, st, "f/r/k", []byte("short"))
	mustPut(t, ctx, st, "f/r/k", []byte{})
	wantValue(t, ctx, st, "f/r/k", []byte{})
}

func (s suite) nested(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustPut(t, ctx, st, "f/r/a", []byte("a"))
	mustPut(t, ctx, st, "f/r/a/b", []byte("ab"))
	mustPut(t, ctx, st, "f/r/a/b/c", []byte("abc"))
	wantValue(t, ctx, st, "f/r/a", []byte("a"))
	wantValue(t, ctx, st, "f/r/a/b", []byte("ab"))
	if err := st.Delete(ctx, "f/r/a"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, ctx, st, "f/r/a")
	wantValue(t, ctx, st, "f/r/a/b/c", []byte("abc"))
	if err := st.DeletePrefix(ctx, "f/r/a/"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, ctx, st, "f/r/a/b")
	mustPut(t, ctx, st, "f/r/a", []byte("again"))
	wantValue(t, ctx, st, "f/r/a", []byte("again"))
}

func (s suite) deleteRemoves(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustPut(t, ctx, st, "f/r/k", []byte("v"))
	mustPut(t, ctx, st, "f/r/k2", []byte("v2"))
	if err := st.Delete(ctx, "f/r/k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, ctx, st, "f/r/k")
	wantValue(t, ctx, st, "f/r/k2", []byte("v2"))
}

func (s suite) deleteMissing(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	if err := st.Delete(ctx, "f/r/never"); err != nil {
		t.Fatalf("Delete of a missing key = %v", err)
	}
	mustPut(t, ctx, st, "f/r/k", []byte("v"))
	if err := st.Delete(ctx, "f/r/k/below"); err != nil {
		t.Fatalf("Delete of a missing key below an existing one = %v", err)
	}
}

func (s suite) deletePrefix(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	all := []string{"f/r/a", "f/r/a/b", "f/r/ab", "f/r/b", "f/ra", "f/r"}
	for _, k := range all {
		mustPut(t, ctx, st, k, []byte(k))
	}
	if err := st.DeletePrefix(ctx, "f/r/a"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	for _, k := range []string{"f/r/a", "f/r/a/b", "f/r/ab"} {
		wantMissing(t, ctx, st, k)
	}
	for _, k := range []string{"f/r/b", "f/ra", "f/r"} {
		wantValue(t, ctx, st, k, []byte(k))
	}
	if err := st.DeletePrefix(ctx, "f/r/"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	wantMissing(t, ctx, st, "f/r/b")
	wantValue(t, ctx, st, "f/r", []byte("f/r"))
	wantValue(t, ctx, st, "f/ra", []byte("f/ra"))
	// Keys can be written again under a deleted prefix.
	mustPut(t, ctx, st, "f/r/a/b", []byte("new"))
	wantValue(t, ctx, st, "f/r/a/b", []byte("new"))
}

func (s suite) deletePrefixMissing(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	if err := st.DeletePrefix(ctx, "f/none/"); err != nil {
		t.Fatalf("DeletePrefix of an unused prefix = %v", err)
	}
}

func (s suite) isolation(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	keys := []string{"flowA/req1/x", "flowA/req1/data/n1", "flowA/req10/x", "flowA/req1x/x", "flowB/req1/x", "flowAB/req1/x", "flowA/req1"}
	for _, k := range keys {
		mustPut(t, ctx, st, k, []byte(k))
	}
	if err := st.DeletePrefix(ctx, "flowA/req1/"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	wantMissing(t, ctx, st, "flowA/req1/x")
	wantMissing(t, ctx, st, "flowA/req1/data/n1")
	for _, k := range []string{"flowA/req10/x", "flowA/req1x/x", "flowB/req1/x", "flowAB/req1/x", "flowA/req1"} {
		wantValue(t, ctx, st, k, []byte(k))
	}
	if err := st.DeletePrefix(ctx, "flowA/"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	for _, k := range []string{"flowA/req10/x", "flowA/req1x/x", "flowA/req1"} {
		wantMissing(t, ctx, st, k)
	}
	wantValue(t, ctx, st, "flowAB/req1/x", []byte("flowAB/req1/x"))
	wantValue(t, ctx, st, "flowB/req1/x", []byte("flowB/req1/x"))
}

// HostileKeys are key suffixes built from user data that a store must keep
// inside their prefix. Stores must accept them.
var HostileKeys = []string{
	"..", ".", "../x", "../../flowB/req1/x", "../../../../../../victim", "a/../../b", "./x",
	"%2F", "..%2F..%2Fx", "%2e%2e/x", "a%2Fb", "a/b", "%", "%%", "%zz",
	"with space", " leading", "trailing ", "tab\tnew\nline", "back\\slash", "..\\..\\x",
	"ünïcödé/ключ/鍵", "emoji 🙂", "nul\x00byte", "~", "~user", ".hidden", "...", "-dash", "q?x=1#f", "*", ":colon",
}

// RejectableKeys have empty path segments; a store may reject them with an
// error, but if it accepts one it must keep it inside its prefix.
var RejectableKeys = []string{"a//b", "trailing/", "/leading"}

func (s suite) hostileKeys(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	victims := []string{"victim", "flowB/req1/x", "flowA/x", "flowA/req10/x", "flowA/req1"}
	for _, v := range victims {
		mustPut(t, ctx, st, v, []byte("victim:"+v))
	}
	const prefix = "flowA/req1/"
	var stored []string
	for i, h := range HostileKeys {
		k := prefix + h
		mustPut(t, ctx, st, k, []byte(fmt.Sprintf("hostile %d", i)))
		stored = append(stored, k)
	}
	for _, h := range RejectableKeys {
		k := prefix + h
		if err := st.Put(ctx, k, []byte("rejectable "+h)); err == nil {
			stored = append(stored, k)
		}
	}
	// Every key holds its own value: no two hostile keys alias, and none
	// overwrote a victim.
	for i, h := range HostileKeys {
		wantValue(t, ctx, st, prefix+h, []byte(fmt.Sprintf("hostile %d", i)))
	}
	for _, v := range victims {
		wantValue(t, ctx, st, v, []byte("victim:"+v))
	}
	if err := st.DeletePrefix(ctx, prefix); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	for _, k := range stored {
		wantMissing(t, ctx, st, k)
	}
	for _, v := range victims {
		wantValue(t, ctx, st, v, []byte("victim:"+v))
	}
	// Deleting hostile keys must not reach outside either.
	for _, h := range HostileKeys {
		if err := st.Delete(ctx, prefix+h); err != nil {
			t.Fatalf("Delete(%q): %v", prefix+h, err)
		}
		if err := st.DeletePrefix(ctx, prefix+h); err != nil {
			t.Fatalf("DeletePrefix(%q): %v", prefix+h, err)
		}
	}
	for _, v := range victims {
		wantValue(t, ctx, st, v, []byte("victim:"+v))
	}
}

// wholeValue returns writer i's value: a header naming the writer and a body
// derived from it, so a reader can tell a whole value from a mix.
func wholeValue(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	_, _ = rand.NewChaCha8([32]byte{byte(i), byte(i >> 8)}).Read(b[4:])
	return b
}

func isWhole(b []byte, size int) bool {
	if len(b) != size {
		return false
	}
	i := int(binary.BigEndian.Uint32(b))
	return i < Concurrency && bytes.Equal(b, wholeValue(i, size))
}

func (s suite) concurrentWriters(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	const size = 256 << 10
	const key = "f/r/contended"
	values := make([][]byte, Concurrency)
	for i := range values {
		values[i] = wholeValue(i, size)
	}
	mustPut(t, ctx, st, key, values[0])
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		torn    int
		readers sync.WaitGroup
	)
	start := make(chan struct{})
	stopRead := make(chan struct{})
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			<-start
			for {
				select {
				case <-stopRead:
					return
				default:
				}
				got, err := st.Get(ctx, key)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("Get during writes: %w", err))
				} else if !isWhole(got, size) {
					torn++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	for i := 0; i < Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := st.Put(ctx, key, values[i]); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("writer %d: %w", i, err))
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	close(stopRead)
	readers.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	if torn > 0 {
		t.Fatalf("readers saw %d values that were not one writer's whole value", torn)
	}
	got, err := st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !isWhole(got, size) {
		t.Fatalf("final value is not one writer's whole value: %s", show(got))
	}
}

func (s suite) large(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	v := wholeValue(7, s.opts.LargeSize)
	sum := sha256.Sum256(v)
	start := time.Now()
	mustPut(t, ctx, st, "f/r/large", v)
	put := time.Since(start)
	start = time.Now()
	got, err := st.Get(ctx, "f/r/large")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	t.Logf("%d MiB: put %v, get %v", s.opts.LargeSize>>20, put.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if len(got) != len(v) || sha256.Sum256(got) != sum {
		t.Fatalf("large value came back as %s, want %s", show(got), show(v))
	}
	if err := st.Delete(ctx, "f/r/large"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, ctx, st, "f/r/large")
}

func (s suite) canceled(t *testing.T) {
	st := s.newStore(t)
	mustPut(t, s.ctx(t), st, "f/r/k", []byte("v"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"Put":          func() error { return st.Put(ctx, "f/r/new", []byte("v")) },
		"Get":          func() error { _, err := st.Get(ctx, "f/r/k"); return err },
		"Delete":       func() error { return st.Delete(ctx, "f/r/k") },
		"DeletePrefix": func() error { return st.DeletePrefix(ctx, "f/") },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want an error wrapping context.Canceled", name, err)
		}
	}
	wantValue(t, s.ctx(t), st, "f/r/k", []byte("v"))
	wantMissing(t, s.ctx(t), st, "f/r/new")
}

func (s suite) cleanup(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	requests := []string{"flowA/req1/", "flowA/req2/", "flowB/req1/"}
	names := []string{"result", "data/n1", "data/n2", "join/n3/n1", "join/n3/n2", "branch/0/n4", "context/key"}
	for _, r := range requests {
		for _, n := range names {
			mustPut(t, ctx, st, r+n, []byte(r+n))
		}
	}
	for _, r := range requests {
		if err := st.DeletePrefix(ctx, r); err != nil {
			t.Fatalf("DeletePrefix(%q): %v", r, err)
		}
		for _, n := range names {
			wantMissing(t, ctx, st, r+n)
		}
	}
	if s.opts.Leftovers != nil {
		if left := s.opts.Leftovers(t, st); len(left) > 0 {
			t.Fatalf("store still holds %d entries after every request was deleted: %q", len(left), left)
		}
	}
}
