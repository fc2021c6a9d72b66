package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	datamem "github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testflow"
	"github.com/faas-flow/faas-flow/sdk"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

// TestAbandonedRequestIsReclaimedByTTL: a request whose hops are lost (the
// queue dropped them) leaves state behind only until RequestTTL.
func TestAbandonedRequestIsReclaimedByTTL(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Now()
	now.Store(&t0)
	clock := func() time.Time { return *now.Load() }
	state := statemem.New(statemem.WithClock(clock))
	f := newFixture(t, func(o *engine.Options) {
		o.StateStore, o.Now, o.RequestTTL = state, clock, time.Hour
	})
	f.state = state
	id := f.start(t)
	_ = f.tr.take(t) // the hop is lost
	if len(state.Keys()) == 0 {
		t.Fatal("no state for a running request")
	}
	later := t0.Add(2 * time.Hour)
	now.Store(&later)
	if keys := state.Keys(); len(keys) != 0 {
		t.Fatalf("keys of an abandoned request survive its TTL: %v", keys)
	}
	if _, err := f.e.State(context.Background(), id); !errors.Is(err, engine.ErrUnknownRequest) {
		t.Fatalf("state of a reclaimed request: %v", err)
	}
}

// downState fails every call once down is set, like an unreachable etcd.
type downState struct {
	sdk.StateStore
	down atomic.Bool
}

var errDown = fmt.Errorf("etcd 127.0.0.1:2379: %w", sdk.ErrStoreUnavailable)

func (d *downState) Get(ctx context.Context, k string) ([]byte, int64, error) {
	if d.down.Load() {
		return nil, 0, errDown
	}
	return d.StateStore.Get(ctx, k)
}
func (d *downState) Create(ctx context.Context, k string, v []byte, ttl time.Duration) (int64, bool, error) {
	if d.down.Load() {
		return 0, false, errDown
	}
	return d.StateStore.Create(ctx, k, v, ttl)
}
func (d *downState) CompareAndSwap(ctx context.Context, k string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	if d.down.Load() {
		return 0, false, errDown
	}
	return d.StateStore.CompareAndSwap(ctx, k, ver, v, ttl)
}
func (d *downState) List(ctx context.Context, p string) ([]sdk.KV, error) {
	if d.down.Load() {
		return nil, errDown
	}
	return d.StateStore.List(ctx, p)
}

// TestStoreDownGivesTypedErrorsAndTheHopCanBeRetried: while the state store
// is unreachable, Start and Forward fail with an error wrapping
// sdk.ErrStoreUnavailable (the runtime answers 503, the queue redelivers);
// once it is back, the same hop completes the request.
func TestStoreDownGivesTypedErrorsAndTheHopCanBeRetried(t *testing.T) {
	ds := &downState{StateStore: statemem.New()}
	f := newFixture(t, func(o *engine.Options) { o.StateStore = ds; o.DataStore = datamem.New() })
	ctx := context.Background()
	ds.down.Store(true)
	if _, err := f.e.Start(ctx, engine.StartRequest{Body: []byte(">")}); !errors.Is(err, sdk.ErrStoreUnavailable) {
		t.Fatalf("start with the store down: %v", err)
	}
	ds.down.Store(false)
	id := f.start(t)
	hop := f.tr.take(t)
	ds.down.Store(true)
	if err := f.e.Receive(ctx, hop); !errors.Is(err, sdk.ErrStoreUnavailable) {
		t.Fatalf("hop with the store down: %v", err)
	}
	if f.ran["b"].Load() != 0 {
		t.Fatal("a node ran although its claim could not be recorded")
	}
	ds.down.Store(false)
	if err := f.e.Receive(ctx, hop); err != nil {
		t.Fatalf("redelivery after the store came back: %v", err)
	}
	if err := f.e.Receive(ctx, f.tr.take(t)); err != nil {
		t.Fatal(err)
	}
	if out, _, err := f.e.Result(ctx, id); err != nil || string(out) != ">abc" {
		t.Fatalf("result %q, %v", out, err)
	}
}

// lostAnswer is a StateStore whose Create of one key lands but answers
// with an unavailable error, once: a connection lost after the request was
// sent.
type lostAnswer struct {
	sdk.StateStore
	suffix string
	armed  atomic.Bool
}

func (l *lostAnswer) Create(ctx context.Context, k string, v []byte, ttl time.Duration) (int64, bool, error) {
	ver, ok, err := l.StateStore.Create(ctx, k, v, ttl)
	if err == nil && strings.HasSuffix(k, l.suffix) && l.armed.CompareAndSwap(true, false) {
		return 0, false, fmt.Errorf("etcd: connection lost, outcome unknown: %w", sdk.ErrStoreUnavailable)
	}
	return ver, ok, err
}

// TestUnknownOutcomeOfTheLastWriteLosesNoChild: b's record of c was
// reserved when b was claimed; b runs, c's hop leaves, and b's last write
// stores the hop in the outbox but loses the answer, so b is given back and
// the delivery fails. The redelivery runs b again and sends c's hop again
// (c's record is still pending); c runs once, and the request ends.
func TestUnknownOutcomeOfTheLastWriteLosesNoChild(t *testing.T) {
	la := &lostAnswer{StateStore: statemem.New(), suffix: "/o/c"}
	f := newFixture(t, func(o *engine.Options) { o.StateStore = la })
	ctx := context.Background()
	id := f.start(t)
	hopB := f.tr.take(t)
	la.armed.Store(true)
	if err := f.e.Receive(ctx, hopB); !errors.Is(err, sdk.ErrStoreUnavailable) {
		t.Fatalf("first delivery: %v", err)
	}
	if err := f.e.Receive(ctx, hopB); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if n := f.tr.len(); n != 2 {
		t.Fatalf("%d hops for c, want 2 (the first delivery's and the redelivery's)", n)
	}
	deliverAll(t, f.e, f.tr)
	if out, _, err := f.e.Result(ctx, id); err != nil || string(out) != ">abc" {
		t.Fatalf("result %q %v", out, err)
	}
	if n := f.ran["b"].Load(); n != 2 {
		t.Fatalf("b ran %d times; at-least-once means twice here", n)
	}
	if n := f.ran["c"].Load(); n != 1 {
		t.Fatalf("c ran %d times, want once", n)
	}
}

// TestReservedChildWhoseHopWasLostIsSentFromTheOutbox: c's record was
// reserved when b was claimed and its hop left before b's last write; the
// hop is lost. The reconciler finds c pending with its hop in the outbox,
// sends it once StallAfter has passed, and c runs once.
func TestReservedChildWhoseHopWasLostIsSentFromTheOutbox(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.start(t)
	if err := f.e.Receive(ctx, f.tr.take(t)); err != nil {
		t.Fatal(err)
	}
	f.tr.drop() // c's hop
	if rep, err := f.e.Reconcile(ctx); err != nil || rep.Redelivered != 0 {
		t.Fatalf("a pass before StallAfter: %+v, %v; want nothing sent", rep, err)
	}
	later := time.Now().Add(time.Minute)
	f.now.Store(&later)
	if rep, err := f.e.Reconcile(ctx); err != nil || rep.Redelivered != 1 {
		t.Fatalf("reconciler: %+v, %v; want c's hop sent again", rep, err)
	}
	deliverAll(t, f.e, f.tr)
	if rec := wantResult(t, f.e, id, ">abc"); rec.Nodes["c"].Redelivered != 1 {
		t.Fatalf("c: %+v, want redelivered once", rec.Nodes["c"])
	}
	if n := f.ran["c"].Load(); n != 1 {
		t.Fatalf("c ran %d times, want once", n)
	}
}

// TestWaiterNeverSeesAFailureWithoutItsOnFailureResult: Result answers for
// a failed request only once the OnFailure output is stored with it.
func TestWaiterNeverSeesAFailureWithoutItsOnFailureResult(t *testing.T) {
	h := newHarness(t, func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("a").Modify(testflow.AppendMod(""))
		d.Node("b").Modify(func([]byte) ([]byte, error) { return nil, errors.New("boom") })
		d.Edge("a", "b")
		flow.OnFailure(func(error) ([]byte, error) {
			time.Sleep(50 * time.Millisecond)
			return []byte("handled"), nil
		})
		return nil
	})
	ctx := ctxT(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.Run(ctx, nil, flowtest.WithRequestID("race-1"))
	}()
	for {
		out, rec, err := h.Engine.Result(ctx, "race-1")
		if errors.Is(err, engine.ErrNotFinished) || errors.Is(err, engine.ErrUnknownRequest) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != engine.StateFailed || string(out) != "handled" {
			t.Fatalf("Result answered state %s with %q; want failed with the OnFailure output", rec.State, out)
		}
		break
	}
	<-done
}

// failOnce is a capture Transport whose n-th Forward from arming fails.
type failOnce struct {
	capture
	left atomic.Int32 // forwards to let through before the failure; <0: off
}

func (f *failOnce) Send(ctx context.Context, id string, hop []byte) error {
	if f.left.Add(-1) == -1 {
		return fmt.Errorf("queue refused the hop: %w", engine.ErrConfig)
	}
	return f.capture.Send(ctx, id, hop)
}

// TestBranchWhoseHopWasNotSentIsSentAgainAndRunsOnce: a foreach starts its
// branches, and the queue refuses one of their hops. The fork is done all
// the same: every branch's record holds its hop. The branches sent run;
// the reconciler sends the refused one once it has waited StallAfter, and
// every branch runs once.
func TestBranchWhoseHopWasNotSentIsSentAgainAndRunsOnce(t *testing.T) {
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	var mu sync.Mutex
	runs := map[string]int{}
	define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("first").Modify(testflow.AppendMod(""))
		each := d.ForEachBranch("each", func([]byte) map[string][]byte {
			m := map[string][]byte{}
			for _, k := range keys {
				m[k] = []byte(k)
			}
			return m
		}, faasflow.Aggregator(testflow.JoinSorted))
		each.Node("work").Modify(func(in []byte) ([]byte, error) {
			mu.Lock()
			runs[string(in)]++
			mu.Unlock()
			return in, nil
		})
		d.Edge("first", "each")
		return nil
	}
	tr := &failOnce{}
	tr.left.Store(-1 << 20)
	signer, err := engine.NewSigner([]byte("test-key"), false)
	if err != nil {
		t.Fatal(err)
	}
	state := statemem.New()
	var now atomic.Pointer[time.Time]
	clock := func() time.Time {
		if p := now.Load(); p != nil {
			return *p
		}
		return time.Now()
	}
	e, err := engine.New(define, engine.Options{Flow: "fork", StateStore: state, DataStore: datamem.New(), Transport: tr, Signer: signer, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := e.Start(ctx, engine.StartRequest{Body: []byte("go")})
	if err != nil {
		t.Fatal(err)
	}
	fork := tr.take(t)
	tr.left.Store(2) // the third branch's hop is refused
	if err := e.Receive(ctx, fork); err != nil {
		t.Fatalf("fork: %v", err)
	}
	if sent := tr.len(); sent != len(keys)-1 {
		t.Fatalf("%d of %d branches were sent", sent, len(keys))
	}
	deliverAll(t, e, &tr.capture)
	if _, _, err := e.Result(ctx, res.ID); !errors.Is(err, engine.ErrNotFinished) {
		t.Fatalf("the request ended without a branch: %v", err)
	}
	later := time.Now().Add(time.Minute)
	now.Store(&later)
	if rep, err := e.Reconcile(ctx); err != nil || rep.Redelivered != 1 {
		t.Fatalf("reconciler: %+v, %v; want the refused branch sent again", rep, err)
	}
	deliverAll(t, e, &tr.capture)
	rec := wantResult(t, e, res.ID, "k0=k0,k1=k1,k2=k2,k3=k3,k4=k4,k5=k5")
	for _, k := range keys {
		if runs[k] != 1 {
			t.Errorf("branch %s ran %d times, want once", k, runs[k])
		}
	}
	if !rec.Cleaned {
		t.Errorf("request not drained; keys left: %q", state.Keys())
	}
}
