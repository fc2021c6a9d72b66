package engine_test

import (
	"context"
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

// fireCounter counts, per request, how often each node's operations ran to
// completion.
type fireCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *fireCounter) mod(ctx *faasflow.Context, node string, m faasflow.Modifier) faasflow.Modifier {
	return func(in []byte) ([]byte, error) {
		out, err := m(in)
		if err == nil {
			f.mu.Lock()
			f.n[ctx.GetRequestId()+"/"+node]++
			f.mu.Unlock()
		}
		return out, err
	}
}

func (f *fireCounter) get(req, node string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[req+"/"+node]
}

// branchingFlow: parallel join + foreach (with a concurrency limit and a
// chain inside) + conditional inside a sub-DAG, with a data forwarder.
func branchingFlow(fc *fireCounter) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
		d := flow.Dag()
		d.Node("start").Modify(fc.mod(ctx, "start", testflow.AppendMod("")))
		each := d.ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(testflow.JoinSorted), faasflow.MaxConcurrency(2))
		each.Node("up").Modify(upper)
		each.Node("bang").Modify(testflow.AppendMod("!"))
		each.Edge("up", "bang")
		sub := faasflow.NewDag()
		br := sub.ConditionalBranch("route", []string{"long", "short"}, func(in []byte) []string {
			if len(in) >= 5 {
				return []string{"long", "short"}
			}
			return []string{"short"}
		}, faasflow.Aggregator(testflow.JoinSorted))
		br["long"].Node("l").Modify(testflow.AppendMod("L"))
		br["short"].Node("s").Modify(testflow.AppendMod("S"))
		d.SubDag("sub", sub)
		d.Node("count").Modify(func(in []byte) ([]byte, error) { return []byte(fmt.Sprint(len(in))), nil })
		d.Node("join", faasflow.Aggregator(testflow.JoinSorted)).Modify(fc.mod(ctx, "join", testflow.AppendMod("")))
		d.Node("end").Modify(fc.mod(ctx, "end", func(in []byte) ([]byte, error) { return append([]byte("["), append(in, ']')...), nil }))
		d.Edge("start", "each")
		d.Edge("start", "sub", faasflow.Forwarder(func(in []byte) []byte { return []byte(strings.ReplaceAll(string(in), ",", "")) }))
		d.Edge("start", "count")
		d.Edge("each", "join")
		d.Edge("sub", "join")
		d.Edge("count", "join")
		d.Edge("join", "end")
		return nil
	}
}

// plainState hides the optional interfaces of the StateStore it wraps (its
// Keys stay visible to assertCleaned).
type plainState struct{ faasflow.StateStore }

func (p plainState) Keys() []string { return p.StateStore.(keyLister).Keys() }

func TestChaosDuplicatedReorderedDelayedHopsGiveTheOrderedResult(t *testing.T) {
	const input = "a,b,c,d,e"
	ordered := func() string {
		fc := &fireCounter{n: map[string]int{}}
		h := newHarness(t, branchingFlow(fc), flowtest.WithWorkers(1))
		res, err := h.Run(ctxT(t), []byte(input))
		if err != nil || res.State != engine.StateSucceeded {
			t.Fatalf("ordered run: %+v %v", res, err)
		}
		return string(res.Output)
	}()
	if want := "[count=9,each=a=A!,b=B!,c=C!,d=D!,e=E!,sub=long=abcdeL,short=abcdeS]"; ordered != want {
		t.Fatalf("ordered result %q, want %q", ordered, want)
	}
	seeds := 200
	if testing.Short() {
		seeds = 40
	}
	var totalSent, totalDelivered atomic.Int64
	t.Cleanup(func() {
		// The faults must really have happened: many more deliveries than
		// hops sent (duplicates and in-progress redeliveries).
		s, d := totalSent.Load(), totalDelivered.Load()
		t.Logf("hops sent %d, delivered %d", s, d)
		if d < s+s/4 {
			t.Errorf("chaos injected too few duplicates: sent %d delivered %d", s, d)
		}
	})
	for seed := 1; seed <= seeds; seed++ {
		seed := seed
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			fc := &fireCounter{n: map[string]int{}}
			// Odd seeds run on a StateStore without the optional Transactor,
			// so both ways of claiming a node face the same faults.
			var state faasflow.StateStore = statemem.New()
			if seed%2 == 1 {
				state = plainState{state}
			}
			h := newHarness(t, branchingFlow(fc), flowtest.WithWorkers(4), flowtest.WithStores(state, nil), flowtest.WithChaos(flowtest.Chaos{
				Seed: uint64(seed), Duplicate: 0.5, Reorder: true, Delay: 0.3, MaxDelay: 3 * time.Millisecond,
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := h.Run(ctx, []byte(input))
			if err != nil {
				t.Fatal(err)
			}
			if res.State != engine.StateSucceeded || string(res.Output) != ordered {
				t.Fatalf("state %s output %q err %q; want %q", res.State, res.Output, res.Err, ordered)
			}
			for _, node := range []string{"start", "join", "end"} {
				if n := fc.get(res.ID, node); n != 1 {
					t.Errorf("node %s ran %d times, want exactly once", node, n)
				}
			}
			assertCleaned(t, h, res.ID)
			sent, delivered := h.Transport.Stats()
			totalSent.Add(int64(sent))
			totalDelivered.Add(int64(delivered))
		})
	}
}

func TestChaosWithRetentionZeroLeavesNoKeyAtAll(t *testing.T) {
	fc := &fireCounter{n: map[string]int{}}
	h := newHarness(t, branchingFlow(fc),
		flowtest.WithChaos(flowtest.Chaos{Seed: 7, Duplicate: 0.5, Reorder: true}),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Retention = -1 }))
	res, err := h.Run(ctxT(t), []byte("a,b"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "ended-and-deleted" {
		t.Fatalf("state %q", res.State)
	}
	if keys := append(h.State.(keyLister).Keys(), h.Data.(keyLister).Keys()...); len(keys) != 0 {
		t.Fatalf("keys left: %v", keys)
	}
}

func TestChaosWideForEachJoinsEveryBranchOnce(t *testing.T) {
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	input := strings.Join(keys, ",")
	for seed := 1; seed <= 40; seed++ {
		seed := seed
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			var aggregations atomic.Int32
			define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				each := flow.Dag().ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
					aggregations.Add(1)
					return []byte(fmt.Sprint(len(m))), nil
				}))
				each.Node("w").Modify(upper)
				return nil
			}
			h := newHarness(t, define, flowtest.WithWorkers(4), flowtest.WithChaos(flowtest.Chaos{
				Seed: uint64(seed), Duplicate: 0.3, Reorder: true, Delay: 0.2, MaxDelay: 2 * time.Millisecond,
			}))
			res, err := h.Run(ctxT(t), []byte(input))
			if err != nil {
				t.Fatal(err)
			}
			if res.State != engine.StateSucceeded || string(res.Output) != "40" || aggregations.Load() != 1 {
				t.Fatalf("state %s output %q aggregations %d", res.State, res.Output, aggregations.Load())
			}
			assertCleaned(t, h, res.ID)
		})
	}
}
