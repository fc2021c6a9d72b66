package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// runTxn runs the Txn part of the suite when the store offers the
// optional sdk.Transactor.
func (s suite) runTxn(t *testing.T) {
	if _, ok := s.newStore(t).(sdk.Transactor); !ok {
		return
	}
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
}

// transactor returns st as an sdk.Transactor (Run calls the Txn tests
// only for stores that implement it).
func transactor(t *testing.T, st sdk.StateStore) sdk.Transactor {
	t.Helper()
	tx, ok := st.(sdk.Transactor)
	if !ok {
		t.Fatalf("%T does not implement sdk.Transactor", st)
	}
	return tx
}

func mustTxn(t *testing.T, tx sdk.Transactor, ctx context.Context, ops ...sdk.TxnOp) []sdk.TxnResult {
	t.Helper()
	res, err := tx.Txn(ctx, ops...)
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if len(res) != len(ops) {
		t.Fatalf("Txn returned %d results for %d ops", len(res), len(ops))
	}
	return res
}

// The engine's claim: swap the node, read the request record, create the
// records of the children.
func (s suite) txnClaim(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	tx := transactor(t, st)
	mustCreate(t, ctx, st, "f/r/n/a", "pending", 0)
	mustCreate(t, ctx, st, "f/r", "record", 0)
	_, ver := mustGet(t, ctx, st, "f/r/n/a")
	_, rver := mustGet(t, ctx, st, "f/r")
	res := mustTxn(t, tx, ctx,
		sdk.TxnSwap("f/r/n/a", ver, []byte("running"), time.Hour),
		sdk.TxnGet("f/r"),
		sdk.TxnCreate("f/r/n/b", []byte("pending"), time.Hour),
		sdk.TxnGet("f/r/none"),
	)
	if !res[0].OK {
		t.Fatalf("swap %+v, want swapped", res[0])
	}
	if v, cur := mustGet(t, ctx, st, "f/r/n/a"); string(v) != "running" || cur != res[0].Version {
		t.Fatalf("Get after swap = %q@%d, want running@%d", v, cur, res[0].Version)
	}
	if !res[1].OK || string(res[1].Value) != "record" || res[1].Version != rver {
		t.Fatalf("read %+v, want record at version %d", res[1], rver)
	}
	if !res[2].OK {
		t.Fatalf("create %+v, want created", res[2])
	}
	if v, cur := mustGet(t, ctx, st, "f/r/n/b"); string(v) != "pending" || cur != res[2].Version {
		t.Fatalf("Get after create = %q@%d, want pending@%d", v, cur, res[2].Version)
	}
	if res[3].OK || res[3].Version != 0 || res[3].Value != nil {
		t.Fatalf("read of a missing key = %+v, want not OK, version 0, nil value", res[3])
	}
	// The versions the transaction returned serve later swaps.
	if _, ok, err := st.CompareAndSwap(ctx, "f/r/n/b", res[2].Version, []byte("running"), 0); err != nil || !ok {
		t.Fatalf("CompareAndSwap with the created version = %v, %v", ok, err)
	}
}

func (s suite) txnStaleSwap(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	tx := transactor(t, st)
	mustCreate(t, ctx, st, "f/r/n/a", "pending", 0)
	_, ver := mustGet(t, ctx, st, "f/r/n/a")
	if _, ok, err := st.CompareAndSwap(ctx, "f/r/n/a", ver, []byte("taken"), 0); err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v", ok, err)
	}
	_, cur := mustGet(t, ctx, st, "f/r/n/a")
	mustCreate(t, ctx, st, "f/r", "record", 0)
	for _, stale := range []int64{ver, 0, -1} {
		res := mustTxn(t, tx, ctx,
			sdk.TxnSwap("f/r/n/a", stale, []byte("mine"), 0),
			sdk.TxnCreate("f/r/n/b", []byte("pending"), 0),
			sdk.TxnGet("f/r"),
			sdk.TxnCount("f/r/n/"),
		)
		if res[0].OK || res[1].OK {
			t.Fatalf("Txn with swap version %d = %+v; want no write", stale, res)
		}
		if !res[2].OK || string(res[2].Value) != "record" || res[3].Count != 1 {
			t.Fatalf("reads after a failed swap = %+v, %+v; want the record and a count of 1", res[2], res[3])
		}
	}
	// Another swap that holds does not rescue the transaction.
	res := mustTxn(t, tx, ctx,
		sdk.TxnSwap("f/r/n/a", cur, []byte("mine"), 0),
		sdk.TxnSwap("f/r", 12345678, []byte("x"), 0),
	)
	if res[0].OK || res[1].OK {
		t.Fatalf("Txn with one stale swap = %+v; want no write", res)
	}
	if v, _ := mustGet(t, ctx, st, "f/r/n/a"); string(v) != "taken" {
		t.Fatalf("Get after failed transactions = %q, want taken", v)
	}
	if _, _, err := st.Get(ctx, "f/r/n/b"); err == nil {
		t.Fatal("a create of a failed transaction happened")
	}
}

func (s suite) txnCreateExisting(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	tx := transactor(t, st)
	mustCreate(t, ctx, st, "f/r/n/b", "running", 0)
	_, bver := mustGet(t, ctx, st, "f/r/n/b")
	res := mustTxn(t, tx, ctx,
		sdk.TxnCreate("f/r/n/b", []byte("pending"), 0),
		sdk.TxnCreate("f/r/n/c", []byte("pending"), 0),
	)
	if res[0].OK || string(res[0].Value) != "running" || res[0].Version != bver {
		t.Fatalf("create of an existing key = %+v, want not created, running@%d", res[0], bver)
	}
	if !res[1].OK {
		t.Fatalf("create beside it = %+v, want created", res[1])
	}
	if v, _ := mustGet(t, ctx, st, "f/r/n/b"); string(v) != "running" {
		t.Fatalf("existing key = %q after a create, want it unchanged", v)
	}
}

func (s suite) txnReadsOwnWrites(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	tx := transactor(t, st)
	mustCreate(t, ctx, st, "f/r/b/x/1", "i", 0)
	mustCreate(t, ctx, st, "f/r/n/x", "waiting", 0)
	_, ver := mustGet(t, ctx, st, "f/r/n/x")
	res := mustTxn(t, tx, ctx,
		sdk.TxnSwap("f/r/n/x", ver, []byte("done"), 0),
		sdk.TxnCreate("f/r/b/x/2", []byte("i"), 0),
		sdk.TxnCount("f/r/b/x/"),
		sdk.TxnGet("f/r/n/x"),
	)
	if res[2].Count != 2 {
		t.Errorf("count after a create in the same transaction = %d, want 2", res[2].Count)
	}
	if string(res[3].Value) != "done" || res[3].Version != res[0].Version {
		t.Errorf("read after a swap in the same transaction = %+v, want done@%d", res[3], res[0].Version)
	}
}

func (s suite) txnCountAgreesWithList(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	tx := transactor(t, st)
	for _, k := range []string{"f/r/j/x/a", "f/r/j/x/b", "f/r/j/x/c", "f/r/j/xy/a", "f/r/b/x/a"} {
		mustCreate(t, ctx, st, k, "v", 0)
	}
	if err := st.Delete(ctx, "f/r/j/x/c"); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"f/r/j/x/", "f/r/j/", "f/r/", "f/none/", ""} {
		res := mustTxn(t, tx, ctx, sdk.TxnCount(prefix))
		list, err := st.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Count != len(list) {
			t.Errorf("count of %q = %d, List has %d keys", prefix, res[0].Count, len(list))
		}
	}
	if res := mustTxn(t, tx, ctx, sdk.TxnCount("f/r/j/x/")); res[0].Count != 2 {
		t.Errorf("count of f/r/j/x/ = %d, want 2", res[0].Count)
	}
}

func (s suite) txnDuplicateWrite(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	tx := transactor(t, st)
	mustCreate(t, ctx, st, "f/r/k", "v", 0)
	_, ver := mustGet(t, ctx, st, "f/r/k")
	if _, err := tx.Txn(ctx, sdk.TxnSwap("f/r/k", ver, []byte("a"), 0), sdk.TxnCreate("f/r/k", []byte("b"), 0)); !errors.Is(err, sdk.ErrInvalidTxn) {
		t.Fatalf("Txn writing one key twice = %v, want an error wrapping sdk.ErrInvalidTxn", err)
	}
	if v, cur := mustGet(t, ctx, st, "f/r/k"); string(v) != "v" || cur != ver {
		t.Fatalf("key after the rejected transaction = %q@%d, want v@%d", v, cur, ver)
	}
}

// Branches finishing at once each record their arrival and count them in
// one transaction: exactly one of them sees the full count.
func (s suite) txnRaceArrivals(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	tx := transactor(t, st)
	const n = 16
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		full int
		errs []error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := tx.Txn(ctx, sdk.TxnCreate("f/r/b/x/"+string(rune('a'+i)), []byte("i"), 0), sdk.TxnCount("f/r/b/x/"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if res[1].Count == n {
				full++
			}
		}(i)
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Txn: %v", errs[0])
	}
	if full != 1 {
		t.Fatalf("%d of %d racing arrivals saw the full count, want exactly 1", full, n)
	}
}

func (s suite) txnTTL(t *testing.T) {
	t.Parallel()
	st, ctx := s.newStore(t), s.ctx(t)
	tx := transactor(t, st)
	mustCreate(t, ctx, st, "f/r/lease/swap", "v", 0)
	_, ver := mustGet(t, ctx, st, "f/r/lease/swap")
	start := time.Now()
	mustTxn(t, tx, ctx,
		sdk.TxnSwap("f/r/lease/swap", ver, []byte("w"), shortTTL),
		sdk.TxnCreate("f/r/lease/create", []byte("v"), shortTTL),
		sdk.TxnCreate("f/r/keep", []byte("v"), 0),
	)
	wantAlive(t, ctx, st, "f/r/lease/create", start, shortTTL)
	s.waitGone(t, ctx, st, "f/r/lease/create", "f/r/lease/", start.Add(shortTTL+s.opts.MaxTTLOverrun))
	if _, _, err := st.Get(ctx, "f/r/lease/swap"); err == nil {
		t.Fatal("swapped key outlived its ttl")
	}
	if v, _ := mustGet(t, ctx, st, "f/r/keep"); string(v) != "v" {
		t.Fatalf("ttl 0 key = %q", v)
	}
}
