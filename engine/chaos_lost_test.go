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

// endCounter counts the ends the engine reports, per request.
type endCounter struct {
	engine.NopObserver
	mu   sync.Mutex
	ends map[string]int
}

func (c *endCounter) RequestEnded(_ context.Context, r engine.RequestInfo, _ string, _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends[r.RequestID]++
}

func (c *endCounter) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ends[id]
}

// handledFlow is branchingFlow with its handlers and aggregator counted:
// Finally, OnFailure (an input holding "fail" fails the count node) and
// the foreach's aggregator.
func handledFlow(fc *fireCounter) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
		note := func(what string) {
			fc.mu.Lock()
			fc.n[ctx.GetRequestId()+"/"+what]++
			fc.mu.Unlock()
		}
		d := flow.Dag()
		d.Node("start").Modify(fc.mod(ctx, "start", testflow.AppendMod("")))
		each := d.ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
			note("aggregate each")
			return testflow.JoinSorted(m)
		}), faasflow.MaxConcurrency(2))
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
		d.Node("count").Modify(func(in []byte) ([]byte, error) {
			if strings.Contains(string(in), "fail") {
				return nil, fmt.Errorf("count refuses %q", in)
			}
			return []byte(fmt.Sprint(len(in))), nil
		})
		d.Node("join", faasflow.Aggregator(testflow.JoinSorted)).Modify(fc.mod(ctx, "join", testflow.AppendMod("")))
		d.Node("end").Modify(fc.mod(ctx, "end", func(in []byte) ([]byte, error) { return append([]byte("["), append(in, ']')...), nil }))
		d.Edge("start", "each")
		d.Edge("start", "sub", faasflow.Forwarder(func(in []byte) []byte { return []byte(strings.ReplaceAll(string(in), ",", "")) }))
		d.Edge("start", "count")
		d.Edge("each", "join")
		d.Edge("sub", "join")
		d.Edge("count", "join")
		d.Edge("join", "end")
		flow.OnFailure(func(error) ([]byte, error) {
			note("OnFailure")
			return []byte("handled"), nil
		})
		flow.Finally(func(string) { note("Finally") })
		return nil
	}
}

// chaosCase is one run of handledFlow under chaos, with what it must give.
type chaosCase struct {
	input, state, output string
	once                 []string // what must have run exactly once
	atLeastOnce          []string // what must have run, once or more
}

func chaosCases(killing bool) []chaosCase {
	const ok = "[count=9,each=a=A!,b=B!,c=C!,d=D!,e=E!,sub=long=abcdeL,short=abcdeS]"
	success := chaosCase{input: "a,b,c,d,e", state: engine.StateSucceeded, output: ok, once: []string{"Finally"}}
	failure := chaosCase{input: "a,b,fail", state: engine.StateFailed, output: "handled", once: []string{"OnFailure", "Finally"}}
	userCode := []string{"start", "join", "end", "aggregate each"}
	if killing {
		// A delivery killed after its node's code ran and before its last
		// write loses that work: the node runs again. One killed after the
		// request's end and before it recorded that its handlers ran has
		// them run again by the reconciler. At least once, then.
		success.atLeastOnce, success.once = append(userCode, success.once...), nil
		failure.atLeastOnce, failure.once = failure.once, nil
	} else {
		success.once = append(success.once, userCode...)
	}
	return []chaosCase{success, failure}
}

// runChaos runs every case of chaosCases under ch, on a StateStore with
// transactions for even seeds and without for odd ones, and checks each.
func runChaos(t *testing.T, ch flowtest.Chaos, killing bool) (redelivered, dropped, killed int) {
	fc := &fireCounter{n: map[string]int{}}
	ends := &endCounter{ends: map[string]int{}}
	events := &endEvents{}
	var state faasflow.StateStore = statemem.New()
	if ch.Seed%2 == 1 {
		state = plainState{state}
	}
	h := newHarness(t, handledFlow(fc), flowtest.WithWorkers(4), flowtest.WithStores(state, nil), flowtest.WithChaos(ch),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer, o.RedriveRetention, o.Events = ends, -1, events }))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range chaosCases(killing) {
		res, err := h.Run(ctx, []byte(c.input))
		for try := 0; errors.Is(err, flowtest.ErrKilled) && try < 5; try++ {
			// The start died before the request existed: the caller got
			// an error, and calls again.
			res, err = h.Run(ctx, []byte(c.input))
		}
		if err != nil {
			kvs, _ := state.List(context.Background(), "")
			for _, kv := range kvs {
				t.Logf("%s = %.300s", kv.Key, kv.Value)
			}
			t.Fatalf("%s: %v", c.input, err)
		}
		if res.State != c.state || string(res.Output) != c.output {
			t.Fatalf("%s: state %s output %q err %q; want %s %q", c.input, res.State, res.Output, res.Err, c.state, c.output)
		}
		// The end is reported by the process that ends the request, and by
		// the reconciler when that process died before recording that it
		// had run the end's handlers: at least once under killing.
		if n := ends.get(res.ID); n != 1 && !killing || n < 1 {
			t.Errorf("%s: the end was reported %d times, want once", c.input, n)
		}
		// Every report of the end carries the time recorded with it, which
		// completion events take their id from.
		if n, times := events.of(res.ID); n < 1 || times != 1 {
			t.Errorf("%s: the end went to Events %d times with %d end times, want at least once, with one", c.input, n, times)
		}
		if res.Record.Ended == nil || res.Record.Finalizing {
			t.Errorf("%s: record %+v: want ended, its handlers run", c.input, res.Record)
		}
		for _, what := range c.once {
			if n := fc.get(res.ID, what); n != 1 {
				t.Errorf("%s: %s ran %d times, want exactly once", c.input, what, n)
			}
		}
		for _, what := range c.atLeastOnce {
			if n := fc.get(res.ID, what); n < 1 {
				t.Errorf("%s: %s never ran", c.input, what)
			}
		}
		redelivered += res.Redelivered
	}
	assertCleaned(t, h, "")
	return redelivered, h.Transport.Dropped(), h.Killed()
}

// chaosTotals sums what the seeds of a chaos test injected, and fails the
// test if the faults did not really happen.
type chaosTotals struct{ redelivered, dropped, killed atomic.Int64 }

func (c *chaosTotals) add(r, d, k int) {
	c.redelivered.Add(int64(r))
	c.dropped.Add(int64(d))
	c.killed.Add(int64(k))
}

func (c *chaosTotals) check(t *testing.T, killing bool) {
	r, d, k := c.redelivered.Load(), c.dropped.Load(), c.killed.Load()
	t.Logf("hops lost %d, deliveries killed %d, hops sent again by the reconciler %d", d, k, r)
	if d == 0 || r < d/2 || killing && k == 0 {
		t.Errorf("chaos did not inject the faults it should have (lost %d, killed %d, sent again %d)", d, k, r)
	}
}

func chaosSeeds() int {
	if testing.Short() {
		return 40
	}
	return 240
}

func TestChaosLostHopsAreSentAgainAndEveryRequestEndsOnce(t *testing.T) {
	var totals chaosTotals
	t.Cleanup(func() { totals.check(t, false) })
	for seed := 1; seed <= chaosSeeds(); seed++ {
		seed := seed
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			totals.add(runChaos(t, flowtest.Chaos{
				Seed: uint64(seed), Drop: 0.2, Duplicate: 0.3, Reorder: true, Delay: 0.2, MaxDelay: 2 * time.Millisecond,
			}, false))
		})
	}
}

func TestChaosKilledDeliveriesAreTakenOverAndEveryRequestEndsOnce(t *testing.T) {
	var totals chaosTotals
	t.Cleanup(func() { totals.check(t, true) })
	for seed := 1; seed <= chaosSeeds(); seed++ {
		seed := seed
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			totals.add(runChaos(t, flowtest.Chaos{
				Seed: uint64(seed), Kill: 0.15, Drop: 0.1, Duplicate: 0.2, Reorder: true,
			}, true))
		})
	}
}

// TestRunReconcilerFinishesARequestWhoseHopsAreLost runs the reconciler's
// loop for real (in process: no election without etcd), against a
// transport that loses every hop of a node: it finishes the request once
// the stall has lasted StallAfter.
func TestRunReconcilerFinishesARequestWhoseHopsAreLost(t *testing.T) {
	f := newFixture(t, func(o *engine.Options) {
		o.StallAfter, o.ReconcileInterval = 200*time.Millisecond, 20*time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := f.start(t)
	f.tr.drop() // b's hop is lost
	done := make(chan struct{})
	go func() { defer close(done); _ = f.e.RunReconciler(ctx) }()
	for {
		if f.tr.len() > 0 {
			if err := f.e.Receive(ctx, f.tr.take(t)); err != nil {
				t.Fatal(err)
			}
		}
		rec, err := f.e.State(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Cleaned {
			if rec.Nodes["b"].Redelivered != 1 || rec.State != engine.StateSucceeded {
				t.Fatalf("record %+v; want succeeded with b sent again once", rec)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the reconciler never sent the lost hop again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
