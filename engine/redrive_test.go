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

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testflow"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

// runs counts runs of user code by name.
type runs struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *runs) add(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[name]++
}

func (r *runs) get(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[name]
}

// breakableChain is a -> b -> c whose b fails while broken is set, with
// its handlers counted.
func breakableChain(ran *runs, broken *atomic.Bool) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		for _, n := range []string{"a", "b", "c"} {
			d.Node(n).Modify(func(in []byte) ([]byte, error) {
				ran.add(n)
				if n == "b" && broken.Load() {
					return nil, errors.New("b is broken")
				}
				return append(append([]byte(nil), in...), n...), nil
			})
		}
		d.Edge("a", "b")
		d.Edge("b", "c")
		flow.OnFailure(func(error) ([]byte, error) { ran.add("OnFailure"); return []byte("handled"), nil })
		flow.Finally(func(state string) { ran.add("Finally " + state) })
		return nil
	}
}

func TestRedriveRunsWhatFailedAndKeepsWhatSucceeded(t *testing.T) {
	ran := &runs{n: map[string]int{}}
	var broken atomic.Bool
	broken.Store(true)
	h := newHarness(t, breakableChain(ran, &broken))
	ctx := ctxT(t)
	res, err := h.Run(ctx, []byte(">"))
	if err != nil || res.State != engine.StateFailed || string(res.Output) != "handled" {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	broken.Store(false)
	res, err = h.Redrive(ctx, res.ID)
	if err != nil || res.State != engine.StateSucceeded || string(res.Output) != ">abc" {
		t.Fatalf("redrive: %+v, %v", res, err)
	}
	for name, want := range map[string]int{"a": 1, "b": 2, "c": 1, "OnFailure": 1, "Finally failure": 1, "Finally success": 1} {
		if got := ran.get(name); got != want {
			t.Errorf("%s ran %d times, want %d", name, got, want)
		}
	}
	rec := res.Record
	if rec.Redrives != 1 {
		t.Errorf("redrives %d, want 1", rec.Redrives)
	}
	b := rec.Nodes["b"]
	if b.Status != engine.NodeSucceeded || len(b.Earlier) != 1 || b.Earlier[0].Status != engine.NodeFailed || !strings.Contains(b.Earlier[0].Error, "b is broken") {
		t.Errorf("node b %+v: want succeeded, with its failed run before the redrive", b)
	}
	if a := rec.Nodes["a"]; a.Status != engine.NodeSucceeded || len(a.Earlier) != 0 {
		t.Errorf("node a %+v: want succeeded once, never reset", a)
	}
	assertCleaned(t, h, res.ID)
}

func TestRedriveOfAStoppedRequestRunsWhatWasLeft(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.start(t)
	hopB := f.tr.take(t)
	if err := f.e.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Receive(ctx, hopB); err != nil {
		t.Fatal(err)
	}
	rec, err := f.e.Redrive(ctx, id)
	if err != nil || rec.State != engine.StateRunning || rec.Redrives != 1 {
		t.Fatalf("redrive: %+v, %v", rec, err)
	}
	deliverAll(t, f.e, f.tr)
	wantResult(t, f.e, id, ">abc")
	if f.ran["a"].Load() != 1 || f.ran["b"].Load() != 1 || f.ran["c"].Load() != 1 {
		t.Fatalf("a, b, c ran %d, %d, %d times; want once each", f.ran["a"].Load(), f.ran["b"].Load(), f.ran["c"].Load())
	}
}

func TestRedriveIsRefusedWithTheReason(t *testing.T) {
	ctx := context.Background()
	failed := func(t *testing.T, tune ...func(*engine.Options)) (*flowtest.Harness, string) {
		ran := &runs{n: map[string]int{}}
		var broken atomic.Bool
		broken.Store(true)
		h := newHarness(t, breakableChain(ran, &broken), flowtest.WithEngineOptions(func(o *engine.Options) {
			for _, f := range tune {
				f(o)
			}
		}))
		res, err := h.Run(ctxT(t), []byte(">"))
		if err != nil || res.State != engine.StateFailed {
			t.Fatalf("run: %+v, %v", res, err)
		}
		return h, res.ID
	}
	t.Run("a request that is running", func(t *testing.T) {
		f := newFixture(t)
		id := f.start(t)
		if _, err := f.e.Redrive(ctx, id); !errors.Is(err, engine.ErrWrongState) {
			t.Fatalf("got %v, want ErrWrongState", err)
		}
	})
	t.Run("a request that succeeded", func(t *testing.T) {
		h := newHarness(t, asyncChain(3))
		res, err := h.Run(ctxT(t), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Engine.Redrive(ctx, res.ID); !errors.Is(err, engine.ErrWrongState) {
			t.Fatalf("got %v, want ErrWrongState", err)
		}
	})
	t.Run("an unknown request", func(t *testing.T) {
		h, _ := failed(t)
		if _, err := h.Engine.Redrive(ctx, "nope"); !errors.Is(err, engine.ErrUnknownRequest) {
			t.Fatalf("got %v, want ErrUnknownRequest", err)
		}
	})
	t.Run("a flow whose structure changed", func(t *testing.T) {
		h, id := failed(t)
		other, err := engine.New(asyncChain(4), h.Engine.Options())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Redrive(ctx, id); !errors.Is(err, engine.ErrDefinitionChanged) {
			t.Fatalf("got %v, want ErrDefinitionChanged", err)
		}
	})
	t.Run("state expired", func(t *testing.T) {
		h, id := failed(t)
		rec, _ := h.Engine.State(ctx, id)
		if err := h.State.DeletePrefix(ctx, "w/flowtest/"+id+"/"+rec.Incarnation+"/"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Engine.Redrive(ctx, id); !errors.Is(err, engine.ErrRedriveExpired) {
			t.Fatalf("got %v, want ErrRedriveExpired", err)
		}
	})
	// A request whose first node takes 2 hours fails; the request TTL is
	// 7 hours, the redrive retention 6.
	for _, tt := range []struct {
		name  string
		after time.Duration // from the failure
		want  string        // in the error; "" for none
	}{
		{"within its redrive retention and request TTL", 4 * time.Hour, ""},
		{"past its request TTL", 5*time.Hour + time.Second, "its working state expires 7h0m0s after its start"},
		{"past its redrive retention", 6*time.Hour + time.Second, "can be redriven for 6h0m0s after its end"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var skew atomic.Int64
			define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				flow.Dag().Node("long").Modify(func(in []byte) ([]byte, error) { skew.Add(int64(2 * time.Hour)); return in, nil })
				flow.Dag().Node("bad").Modify(func([]byte) ([]byte, error) { return nil, errors.New("bad") })
				flow.Dag().Edge("long", "bad")
				return nil
			}
			h := newHarness(t, define, flowtest.WithEngineOptions(func(o *engine.Options) {
				o.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
				o.RequestTTL, o.RedriveRetention = 7*time.Hour, 6*time.Hour
			}))
			res, err := h.Run(ctxT(t), []byte(">"))
			if err != nil || res.State != engine.StateFailed {
				t.Fatalf("run: %+v, %v", res, err)
			}
			skew.Add(int64(tt.after))
			_, err = h.Engine.Redrive(ctx, res.ID)
			if tt.want == "" && err != nil || tt.want != "" && (!errors.Is(err, engine.ErrRedriveExpired) || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("redrive %s after the failure: %v; want %q", tt.after, err, tt.want)
			}
		})
	}
	t.Run("redrive turned off", func(t *testing.T) {
		h, id := failed(t, func(o *engine.Options) { o.RedriveRetention = -1 })
		if _, err := h.Engine.Redrive(ctx, id); !errors.Is(err, engine.ErrRedriveExpired) {
			t.Fatalf("got %v, want ErrRedriveExpired", err)
		}
	})
}

// TestRedrivenRequestEndsOnceUnderChaos redrives a failed request with
// hops duplicated, reordered and lost, on a store with transactions and
// one without; and again with deliveries (and the redrive itself) killed
// partway, where a node's code and the handlers run at least once.
func TestRedrivenRequestEndsOnceUnderChaos(t *testing.T) {
	for _, killing := range []bool{false, true} {
		t.Run(fmt.Sprintf("killing=%t", killing), func(t *testing.T) {
			var totals chaosTotals
			t.Cleanup(func() { totals.check(t, killing) })
			for seed := 1; seed <= chaosSeeds(); seed++ {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					t.Parallel()
					totals.add(testRedriveUnderChaos(t, uint64(seed), killing))
				})
			}
		})
	}
}

// testRedriveUnderChaos runs one seed and returns the hops sent again,
// lost, and the deliveries killed.
func testRedriveUnderChaos(t *testing.T, seed uint64, killing bool) (redelivered, dropped, killed int) {
	ran := &runs{n: map[string]int{}}
	var broken atomic.Bool
	broken.Store(true)
	var state faasflow.StateStore = statemem.New()
	if seed%2 == 1 {
		state = plainState{state}
	}
	ch := flowtest.Chaos{Seed: seed, Drop: 0.2, Duplicate: 0.3, Reorder: true}
	if killing {
		ch.Kill = 0.1
	}
	ends := &endCounter{ends: map[string]int{}}
	h := newHarness(t, breakableChain(ran, &broken), flowtest.WithStores(state, nil), flowtest.WithChaos(ch),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = ends }))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.Run(ctx, []byte(">"))
	for try := 0; errors.Is(err, flowtest.ErrKilled) && try < 5; try++ {
		res, err = h.Run(ctx, []byte(">")) // the start died: the caller calls again
	}
	if err != nil || res.State != engine.StateFailed {
		t.Fatalf("run: %+v, %v", res, err)
	}
	redelivered = res.Redelivered
	broken.Store(false)
	id := res.ID
	res, err = h.Redrive(ctx, id)
	for try := 0; errors.Is(err, flowtest.ErrKilled) && try < 5; try++ {
		res, err = h.Redrive(ctx, id) // the redrive died partway: the operator calls again
	}
	if err != nil || res.State != engine.StateSucceeded || string(res.Output) != ">abc" {
		kvs, _ := state.List(context.Background(), "")
		for _, kv := range kvs {
			t.Logf("%s = %.400s", kv.Key, kv.Value)
		}
		t.Fatalf("redrive: %+v, %v", res, err)
	}
	redelivered += res.Redelivered
	// b's run before the redrive failed; on a store without transactions
	// a kill between the request's failure and b's own write leaves b to
	// be cancelled by the reconciler instead. After the redrive b
	// succeeded; but a kill after b sent c its output and before b's own
	// last write leaves b's record to the reconciler, which, the request
	// having ended, records it cancelled.
	b := res.Record.Nodes["b"]
	lost := killing && seed%2 == 1 && len(b.Earlier) == 1 && b.Earlier[0].Status == engine.NodeCancelled
	lastLost := killing && b.Status == engine.NodeCancelled
	if b.Status != engine.NodeSucceeded && !lastLost || len(b.Earlier) != 1 || b.Earlier[0].Status != engine.NodeFailed && !lost {
		t.Errorf("node b %+v: want succeeded, with its one failed run before the redrive", b)
	}
	want := map[string]int{"a": 1, "c": 1, "OnFailure": 1, "Finally failure": 1, "Finally success": 1}
	if n := ends.get(id); n != 2 && !killing || n < 2 {
		t.Errorf("the request ended %d times, want twice (its failure, then its success)", n)
	}
	for name, n := range want {
		if got := ran.get(name); got != n && !killing || got < n {
			t.Errorf("%s ran %d times, want %d", name, got, n)
		}
	}
	assertCleaned(t, h, id)
	return redelivered, h.Transport.Dropped(), h.Killed()
}

// tolerantForEach splits its input on commas; an item found in broken
// fails its branch. Each item's runs are counted, and so are the
// aggregator's results and faults.
func tolerantForEach(ran *runs, broken *sync.Map, faults *atomic.Value, opts ...faasflow.BranchOption) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
		agg := faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
			faults.Store(ctx.Faults())
			return testflow.JoinSorted(m)
		})
		each := flow.Dag().ForEachBranch("each", testflow.SplitComma, append([]faasflow.BranchOption{agg}, opts...)...)
		each.Node("work").Modify(func(in []byte) ([]byte, error) {
			ran.add(string(in))
			if _, bad := broken.Load(string(in)); bad {
				return nil, fmt.Errorf("item %s is bad", in)
			}
			return append([]byte("ok:"), in...), nil
		})
		return nil
	}
}

func tenItems() string {
	items := make([]string, 10)
	for i := range items {
		items[i] = fmt.Sprintf("i%d", i)
	}
	return strings.Join(items, ",")
}

func TestForEachToleratesFailuresWithinItsBound(t *testing.T) {
	tests := []struct {
		name   string
		opt    faasflow.BranchOption
		broken []string
		ok     bool
	}{
		{"1 of 10 failing under a bound of 1", faasflow.ToleratedFailures(1), []string{"i3"}, true},
		{"2 of 10 failing under a bound of 1", faasflow.ToleratedFailures(1), []string{"i3", "i7"}, false},
		{"2 of 10 failing under 20 percent", faasflow.ToleratedFailurePercent(20), []string{"i3", "i7"}, true},
		{"3 of 10 failing under 20 percent", faasflow.ToleratedFailurePercent(20), []string{"i1", "i3", "i7"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := &runs{n: map[string]int{}}
			var broken sync.Map
			for _, b := range tt.broken {
				broken.Store(b, true)
			}
			var faults atomic.Value
			h := newHarness(t, tolerantForEach(ran, &broken, &faults, tt.opt))
			res, err := h.Run(ctxT(t), []byte(tenItems()))
			if err != nil {
				t.Fatal(err)
			}
			each := res.Record.Nodes["each"]
			if len(each.Faults) != len(tt.broken) || each.Faults[0].Key != tt.broken[0] || !strings.Contains(each.Faults[0].Error, "is bad") {
				t.Fatalf("fault records %+v, want one per broken item", each.Faults)
			}
			if !tt.ok {
				want := fmt.Sprintf("%d of 10 branches failed", len(tt.broken))
				if res.State != engine.StateFailed || !strings.Contains(res.Err, want) {
					t.Fatalf("state %s, error %q; want failed naming %q", res.State, res.Err, want)
				}
				return
			}
			if res.State != engine.StateSucceeded {
				t.Fatalf("state %s: %s", res.State, res.Err)
			}
			if got := strings.Count(string(res.Output), "ok:"); got != 10-len(tt.broken) {
				t.Fatalf("aggregator got %d results (%s), want %d", got, res.Output, 10-len(tt.broken))
			}
			seen, _ := faults.Load().([]faasflow.Fault)
			if len(seen) != len(tt.broken) || seen[0].Key != tt.broken[0] {
				t.Fatalf("the aggregator's context had faults %+v", seen)
			}
		})
	}
}

func TestFaultRecordsReferToTheInputOfTheirItem(t *testing.T) {
	ran := &runs{n: map[string]int{}}
	var broken sync.Map
	broken.Store("i4", true)
	var input atomic.Value
	define := func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
		each := flow.Dag().ForEachBranch("each", testflow.SplitComma, faasflow.ToleratedFailures(1),
			faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
				for _, f := range ctx.Faults() {
					b, err := ctx.FaultInput(f)
					if err != nil {
						return nil, err
					}
					input.Store(string(b))
				}
				return testflow.JoinSorted(m)
			}))
		each.Node("work").Modify(func(in []byte) ([]byte, error) {
			ran.add(string(in))
			if _, bad := broken.Load(string(in)); bad {
				return nil, errors.New("bad")
			}
			return in, nil
		})
		return nil
	}
	h := newHarness(t, define)
	res, err := h.Run(ctxT(t), []byte(tenItems()))
	if err != nil || res.State != engine.StateSucceeded {
		t.Fatalf("%+v, %v", res, err)
	}
	if got, _ := input.Load().(string); got != "i4" {
		t.Fatalf("the fault's input is %q, want the item i4", got)
	}
}

// TestRedriveOfAForEachOverItsBoundRunsOnlyTheFailedItems: two of ten
// items fail under a bound of one, failing the request; once they are
// fixed, a redrive runs those two again and no other.
func TestRedriveOfAForEachOverItsBoundRunsOnlyTheFailedItems(t *testing.T) {
	ran := &runs{n: map[string]int{}}
	var broken sync.Map
	broken.Store("i3", true)
	broken.Store("i7", true)
	var faults atomic.Value
	h := newHarness(t, tolerantForEach(ran, &broken, &faults, faasflow.ToleratedFailures(1)))
	ctx := ctxT(t)
	res, err := h.Run(ctx, []byte(tenItems()))
	if err != nil || res.State != engine.StateFailed {
		t.Fatalf("run: %+v, %v", res, err)
	}
	broken.Delete("i3")
	broken.Delete("i7")
	res, err = h.Redrive(ctx, res.ID)
	if err != nil || res.State != engine.StateSucceeded {
		t.Fatalf("redrive: %+v, %v", res, err)
	}
	for i := range 10 {
		item, want := fmt.Sprintf("i%d", i), 1
		if item == "i3" || item == "i7" {
			want = 2
		}
		if got := ran.get(item); got != want {
			t.Errorf("item %s ran %d times, want %d", item, got, want)
		}
	}
	if got := strings.Count(string(res.Output), "ok:"); got != 10 {
		t.Fatalf("result %s: want all ten items", res.Output)
	}
	if each := res.Record.Nodes["each"]; len(each.Faults) != 0 || len(each.Earlier) != 1 || len(each.Earlier[0].Faults) != 2 {
		t.Fatalf("node each %+v: want no fault now, two in its run before the redrive", each)
	}
}
