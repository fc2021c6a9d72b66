package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testflow"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

func upper(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil }

// nestedFlow: a sub-DAG holding a conditional whose branch holds a foreach.
func nestedFlow(flow *faasflow.Workflow, _ *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("start").Modify(testflow.AppendMod(""))
	sub := faasflow.NewDag()
	sub.Node("prep").Modify(testflow.AppendMod(""))
	branches := sub.ConditionalBranch("route", []string{"list", "single"}, func(in []byte) []string {
		if bytes.Contains(in, []byte(",")) {
			return []string{"list"}
		}
		return []string{"single"}
	}, faasflow.Aggregator(testflow.JoinSorted))
	each := branches["list"].ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(testflow.JoinSorted))
	each.Node("up").Modify(upper)
	each.Node("mark").Modify(testflow.AppendMod("!"))
	each.Edge("up", "mark")
	branches["single"].Node("one").Modify(testflow.AppendMod("?"))
	sub.Edge("prep", "route")
	dag.SubDag("sub", sub)
	dag.Node("end").Modify(func(in []byte) ([]byte, error) { return append([]byte("<"), append(in, '>')...), nil })
	dag.Edge("start", "sub")
	dag.Edge("sub", "end")
	return nil
}

func TestFlowsProduceExactOutputs(t *testing.T) {
	tests := []struct {
		name   string
		define faasflow.DefineFunc
		input  string
		want   string
	}{
		{
			name: "sync node runs its operations in order",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				flow.SyncNode().Modify(testflow.AppendMod("-a")).Modify(testflow.AppendMod("-b")).Modify(upper)
				return nil
			},
			input: "in", want: "IN-A-B",
		},
		{
			name: "async chain passes data along edges",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod("-a"))
				d.Node("b").Modify(testflow.AppendMod("-b"))
				d.Node("c").Modify(testflow.AppendMod("-c"))
				d.Edge("a", "b")
				d.Edge("b", "c")
				return nil
			},
			input: "in", want: "in-a-b-c",
		},
		{
			// More children than a claim reserves: they are created at emit.
			name: "wide static fan-out of 40 children joins every one",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod(""))
				d.Node("join", faasflow.Aggregator(func(in map[string][]byte) ([]byte, error) {
					return []byte(fmt.Sprint(len(in))), nil
				}))
				for i := 0; i < 40; i++ {
					c := fmt.Sprintf("c%02d", i)
					d.Node(c).Modify(testflow.AppendMod(""))
					d.Edge("a", c)
					d.Edge(c, "join")
				}
				return nil
			},
			input: "in", want: "40",
		},
		{
			name: "parallel branches join through the aggregator",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod(""))
				d.Node("b").Modify(testflow.AppendMod("-b"))
				d.Node("c").Modify(testflow.AppendMod("-c"))
				d.Node("join", faasflow.Aggregator(testflow.JoinSorted))
				d.Edge("a", "b")
				d.Edge("a", "c")
				d.Edge("b", "join")
				d.Edge("c", "join")
				return nil
			},
			input: "x", want: "b=x-b,c=x-c",
		},
		{
			name: "join node sees each predecessor in NodeInput",
			define: func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod(""))
				d.Node("b").Modify(testflow.AppendMod("1"))
				d.Node("c").Modify(testflow.AppendMod("2"))
				d.Node("join", faasflow.Aggregator(func(map[string][]byte) ([]byte, error) { return nil, nil })).
					Modify(func([]byte) ([]byte, error) {
						return []byte(string(ctx.NodeInput["b"]) + "+" + string(ctx.NodeInput["c"])), nil
					})
				d.Edge("a", "b")
				d.Edge("a", "c")
				d.Edge("b", "join")
				d.Edge("c", "join")
				return nil
			},
			input: "v", want: "v1+v2",
		},
		{
			name: "conditional runs only the selected branch",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("in").Modify(testflow.AppendMod(""))
				b := d.ConditionalBranch("c", []string{"big", "small"}, func(in []byte) []string {
					if len(in) > 3 {
						return []string{"big"}
					}
					return []string{"small"}
				}, faasflow.Aggregator(testflow.JoinSorted))
				b["big"].Node("x").Modify(upper)
				b["small"].Node("y").Modify(testflow.AppendMod("..."))
				d.Edge("in", "c")
				return nil
			},
			input: "abcd", want: "big=ABCD",
		},
		{
			name: "conditional may select several branches",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				b := d.ConditionalBranch("c", []string{"p", "q", "r"}, func([]byte) []string { return []string{"r", "p", "r"} },
					faasflow.Aggregator(testflow.JoinSorted))
				b["p"].Node("x").Modify(testflow.AppendMod("p"))
				b["q"].Node("x").Modify(testflow.AppendMod("q"))
				b["r"].Node("x").Modify(testflow.AppendMod("r"))
				return nil
			},
			input: "-", want: "p=-p,r=-r",
		},
		{
			name: "conditional selecting nothing passes the input through",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod("a"))
				b := d.ConditionalBranch("c", []string{"p"}, func([]byte) []string { return nil }, faasflow.Aggregator(testflow.JoinSorted))
				b["p"].Node("x").Modify(testflow.AppendMod("p"))
				d.Node("z").Modify(testflow.AppendMod("z"))
				d.Edge("a", "c")
				d.Edge("c", "z")
				return nil
			},
			input: "-", want: "-az",
		},
		{
			name: "foreach runs the branch per key and aggregates",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				each := d.ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(testflow.JoinSorted))
				each.Node("up").Modify(upper)
				each.Node("ex").Modify(testflow.AppendMod("!"))
				each.Edge("up", "ex")
				return nil
			},
			input: "a,b,c", want: "a=A!,b=B!,c=C!",
		},
		{
			name: "foreach with a concurrency limit still runs every key",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				each := d.ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(testflow.JoinSorted), faasflow.MaxConcurrency(2))
				each.Node("up").Modify(upper)
				return nil
			},
			input: "a,b,c,d,e,f,g", want: "a=A,b=B,c=C,d=D,e=E,f=F,g=G",
		},
		{
			name: "foreach over no keys gives the aggregator an empty map",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				each := d.ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
					return []byte(fmt.Sprintf("n=%d", len(m))), nil
				}))
				each.Node("up").Modify(upper)
				return nil
			},
			input: "", want: "n=0",
		},
		{
			name: "sub-DAG runs inline between its neighbours",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				sub := faasflow.NewDag()
				sub.Node("x").Modify(testflow.AppendMod("-x"))
				sub.Node("y").Modify(testflow.AppendMod("-y"))
				sub.Edge("x", "y")
				d.Node("a").Modify(testflow.AppendMod("-a"))
				d.SubDag("s", sub)
				d.Node("b").Modify(testflow.AppendMod("-b"))
				d.Edge("a", "s")
				d.Edge("s", "b")
				return nil
			},
			input: "in", want: "in-a-x-y-b",
		},
		{
			name:   "nested conditional and foreach inside a sub-DAG (list)",
			define: nestedFlow, input: "a,b", want: "<list=a=A!,b=B!>",
		},
		{
			name:   "nested conditional and foreach inside a sub-DAG (single)",
			define: nestedFlow, input: "a", want: "<single=a?>",
		},
		{
			name: "execution-only edge sends no data",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod("-a"))
				d.Node("b").Modify(func(in []byte) ([]byte, error) { return []byte(fmt.Sprintf("got %d bytes", len(in))), nil })
				d.Edge("a", "b", faasflow.InvokeEdge())
				return nil
			},
			input: "in", want: "got 0 bytes",
		},
		{
			name: "forwarder transforms data for one edge",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod("-a"))
				d.Node("b").Modify(testflow.AppendMod("-b"))
				d.Edge("a", "b", faasflow.Forwarder(func(in []byte) []byte { return bytes.ToUpper(in) }))
				return nil
			},
			input: "in", want: "IN-A-b",
		},
		{
			name: "apply calls the function and uses its output",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Apply("shout")
				d.Node("b").Modify(testflow.AppendMod("."))
				d.Edge("a", "b")
				return nil
			},
			input: "hi", want: "HI.",
		},
		{
			name: "context values set by one node are read by a later one",
			define: func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(func(in []byte) ([]byte, error) {
					if err := ctx.Set("n", 41); err != nil {
						return nil, err
					}
					return in, ctx.Set("name", string(in))
				})
				d.Node("b").Modify(func([]byte) ([]byte, error) {
					n, err := ctx.LookupInt("n")
					if err != nil {
						return nil, err
					}
					name, err := ctx.LookupString("name")
					return []byte(fmt.Sprintf("%s:%d", name, n+1)), err
				})
				d.Edge("a", "b")
				return nil
			},
			input: "ctx", want: "ctx:42",
		},
		{
			name: "operation failure handler can swallow the error",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Apply("broken", faasflow.OnFailure(func(error) error { return nil })).Modify(testflow.AppendMod("|ok"))
				d.Node("b").Modify(testflow.AppendMod(""))
				d.Edge("a", "b")
				return nil
			},
			input: "", want: "broken function|ok",
		},
		{
			name: "large data travels through the data store",
			define: func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(func(in []byte) ([]byte, error) { return bytes.Repeat(in, 100000), nil })
				d.Node("b").Modify(func(in []byte) ([]byte, error) { return []byte(fmt.Sprint(len(in))), nil })
				d.Edge("a", "b")
				return nil
			},
			input: "xyz", want: "300000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.define)
			res, err := h.Run(ctxT(t), []byte(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if res.State != engine.StateSucceeded {
				t.Fatalf("state %s, error %q", res.State, res.Err)
			}
			if string(res.Output) != tt.want {
				t.Fatalf("output %q, want %q", res.Output, tt.want)
			}
			assertCleaned(t, h, res.ID)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newHarness(t testing.TB, define faasflow.DefineFunc, opts ...flowtest.Option) *flowtest.Harness {
	opts = append([]flowtest.Option{
		flowtest.WithFunction("shout", func(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil }),
		flowtest.WithFunction("broken", func([]byte) ([]byte, error) { return nil, errors.New("broken function") }),
	}, opts...)
	h, err := flowtest.New(define, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

type keyLister interface{ Keys() []string }

// noRedrive makes a failed request clean up at once, as it did before
// redrive: a test of that cleanup asserts that nothing is left.
var noRedrive = flowtest.WithEngineOptions(func(o *engine.Options) { o.RedriveRetention = -1 })

// assertCleaned checks that only the request record and its entry in the
// listing index (both kept for retention) and no working key or object of
// the request remains.
func assertCleaned(t *testing.T, h *flowtest.Harness, id string) {
	t.Helper()
	for _, k := range h.State.(keyLister).Keys() {
		record := strings.HasPrefix(k, "r/") && strings.Count(k, "/") == 2
		listed := strings.HasPrefix(k, "l/") && strings.Count(k, "/") == 3
		if !record && !listed {
			t.Errorf("state key left after the request ended: %s", k)
		}
	}
	for _, k := range h.Data.(keyLister).Keys() {
		if !strings.HasSuffix(k, "/result") {
			t.Errorf("data key left after the request ended: %s", k)
		}
	}
}

func TestFailureRunsOnFailureAndFinallyOnce(t *testing.T) {
	var onFailure, finally atomic.Int32
	var finalState atomic.Value
	define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("a").Modify(testflow.AppendMod(""))
		d.Node("ok").Modify(testflow.AppendMod("fine"))
		d.Node("bad").Modify(func([]byte) ([]byte, error) { return nil, errors.New("boom") })
		d.Node("join", faasflow.Aggregator(testflow.JoinSorted))
		d.Edge("a", "ok")
		d.Edge("a", "bad")
		d.Edge("ok", "join")
		d.Edge("bad", "join")
		flow.OnFailure(func(err error) ([]byte, error) {
			onFailure.Add(1)
			return []byte("handled: " + err.Error()), nil
		})
		flow.Finally(func(state string) { finally.Add(1); finalState.Store(state) })
		return nil
	}
	h := newHarness(t, define, noRedrive)
	res, err := h.Run(ctxT(t), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != engine.StateFailed {
		t.Fatalf("state %s, want failed", res.State)
	}
	if !strings.Contains(res.Err, "boom") || !strings.Contains(res.Err, "node bad failed") {
		t.Fatalf("error %q does not name the node and cause", res.Err)
	}
	if !strings.HasPrefix(string(res.Output), "handled: node bad failed") {
		t.Fatalf("result %q is not the OnFailure output", res.Output)
	}
	if onFailure.Load() != 1 || finally.Load() != 1 || finalState.Load() != faasflow.StateFailure {
		t.Fatalf("OnFailure ran %d times, Finally %d times with %v", onFailure.Load(), finally.Load(), finalState.Load())
	}
	assertCleaned(t, h, res.ID)
	if got := res.Record.Nodes["bad"].Status; got != engine.NodeFailed {
		t.Fatalf("node bad status %q", got)
	}
}

func TestRetrySucceedsOnThirdAttempt(t *testing.T) {
	var calls atomic.Int32
	define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("a").Modify(testflow.AppendMod("a"))
		d.Node("flaky", faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Millisecond})).
			Modify(func(in []byte) ([]byte, error) {
				if calls.Add(1) < 3 {
					return nil, errors.New("transient")
				}
				return append(in, "-ok"...), nil
			})
		d.Edge("a", "flaky")
		return nil
	}
	h := newHarness(t, define)
	res, err := h.Run(ctxT(t), []byte(""))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != engine.StateSucceeded || string(res.Output) != "a-ok" {
		t.Fatalf("state %s output %q err %q", res.State, res.Output, res.Err)
	}
	if calls.Load() != 3 || res.Record.Nodes["flaky"].Attempts != 3 {
		t.Fatalf("calls %d, recorded attempts %d; want 3", calls.Load(), res.Record.Nodes["flaky"].Attempts)
	}
}

func TestRetryStopsAtMaxAttemptsAndOnPermanentErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantCalls int32
	}{
		{"transient error is retried up to MaxAttempts", errors.New("transient"), 4},
		{"permanent error is not retried", faasflow.Permanent(errors.New("bad input")), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			h := newHarness(t, func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod(""))
				d.Node("b", faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 4, InitialInterval: time.Millisecond})).
					Modify(func([]byte) ([]byte, error) { calls.Add(1); return nil, tt.err })
				d.Edge("a", "b")
				return nil
			})
			res, err := h.Run(ctxT(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.State != engine.StateFailed || calls.Load() != tt.wantCalls {
				t.Fatalf("state %s calls %d, want failed after %d", res.State, calls.Load(), tt.wantCalls)
			}
		})
	}
}

func TestTimeoutsFire(t *testing.T) {
	tests := []struct {
		name   string
		define faasflow.DefineFunc
	}{
		{"node timeout stops a slow modifier", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
			d := flow.Dag()
			d.Node("a").Modify(testflow.AppendMod(""))
			d.Node("slow", faasflow.NodeTimeout(30*time.Millisecond)).Modify(func(in []byte) ([]byte, error) {
				time.Sleep(2 * time.Second)
				return in, nil
			})
			d.Edge("a", "slow")
			return nil
		}},
		{"operation timeout stops a slow function", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
			d := flow.Dag()
			d.Node("a").Modify(testflow.AppendMod(""))
			d.Node("slow").Apply("sleepy", faasflow.Timeout(30*time.Millisecond))
			d.Edge("a", "slow")
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.define, flowtest.WithFunction("sleepy", flowtest.Sleep(2*time.Second)))
			start := time.Now()
			res, err := h.Run(ctxT(t), []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if res.State != engine.StateFailed || !strings.Contains(res.Err, "timed out") && !strings.Contains(res.Err, "deadline") {
				t.Fatalf("state %s err %q, want a timeout failure", res.State, res.Err)
			}
			if el := time.Since(start); el > time.Second {
				t.Fatalf("took %s: the timeout did not fire", el)
			}
		})
	}
}

func TestPanicsInUserCodeFailTheNodeNotTheProcess(t *testing.T) {
	tests := []struct {
		name   string
		define faasflow.DefineFunc
		where  string
	}{
		{"modifier", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
			d := flow.Dag()
			d.Node("a").Modify(testflow.AppendMod(""))
			d.Node("b").Modify(func([]byte) ([]byte, error) { panic("modifier exploded") })
			d.Edge("a", "b")
			return nil
		}, "modifier exploded"},
		{"condition", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
			b := flow.Dag().ConditionalBranch("c", []string{"x"}, func([]byte) []string { panic("condition exploded") },
				faasflow.Aggregator(testflow.JoinSorted))
			b["x"].Node("n").Modify(testflow.AppendMod(""))
			return nil
		}, "condition exploded"},
		{"foreach", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
			e := flow.Dag().ForEachBranch("f", func([]byte) map[string][]byte { panic("foreach exploded") },
				faasflow.Aggregator(testflow.JoinSorted))
			e.Node("n").Modify(testflow.AppendMod(""))
			return nil
		}, "foreach exploded"},
		{"aggregator", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
			e := flow.Dag().ForEachBranch("f", testflow.SplitComma,
				faasflow.Aggregator(func(map[string][]byte) ([]byte, error) { panic("aggregator exploded") }))
			e.Node("n").Modify(testflow.AppendMod(""))
			return nil
		}, "aggregator exploded"},
		{"undeclared condition key", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
			b := flow.Dag().ConditionalBranch("c", []string{"x"}, func([]byte) []string { return []string{"nope"} },
				faasflow.Aggregator(testflow.JoinSorted))
			b["x"].Node("n").Modify(testflow.AppendMod(""))
			return nil
		}, "undeclared branch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.define, noRedrive)
			res, err := h.Run(ctxT(t), []byte("a,b"))
			if err != nil {
				t.Fatal(err)
			}
			if res.State != engine.StateFailed || !strings.Contains(res.Err, tt.where) {
				t.Fatalf("state %s err %q, want failed with %q", res.State, res.Err, tt.where)
			}
			assertCleaned(t, h, res.ID)
		})
	}
}

func TestSyncFlowTouchesNoStore(t *testing.T) {
	h := newHarness(t, func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
		flow.SyncNode().Modify(func(in []byte) ([]byte, error) {
			if err := ctx.Set("k", "v"); err != nil {
				return nil, err
			}
			v, err := ctx.LookupString("k")
			return append(in, v...), err
		})
		return nil
	})
	res, err := h.Run(ctxT(t), []byte("x"))
	if err != nil || string(res.Output) != "xv" {
		t.Fatalf("res %+v err %v", res, err)
	}
	if n := len(h.State.(keyLister).Keys()) + len(h.Data.(keyLister).Keys()); n != 0 {
		t.Fatalf("a sync flow wrote %d keys", n)
	}
}

// TestLargeBranchResultsAndJoinInputsGoThroughTheDataStore: results above
// the inline limit are stored in the DataStore and referenced from their
// markers; small ones ride inside the markers. Both reach the aggregators,
// under duplicated and reordered hops, and nothing is left afterwards.
func TestLargeBranchResultsAndJoinInputsGoThroughTheDataStore(t *testing.T) {
	big := func(in []byte) ([]byte, error) { return bytes.Repeat(in, 50000), nil } // > 64 KiB
	sizes := func(m map[string][]byte) ([]byte, error) {
		keys := make([]string, 0, len(m))
		for k, v := range m {
			keys = append(keys, fmt.Sprintf("%s:%d", k, len(v)))
		}
		sort.Strings(keys)
		return []byte(strings.Join(keys, ",")), nil
	}
	define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("start").Modify(testflow.AppendMod(""))
		each := d.ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(sizes))
		each.Node("grow").Modify(func(in []byte) ([]byte, error) {
			if string(in) == "s" {
				return in, nil // a small result next to large ones
			}
			return big(in)
		})
		d.Node("wide").Modify(big)
		d.Node("join", faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
			return []byte(fmt.Sprintf("%s|wide:%d", m["each"], len(m["wide"]))), nil
		}))
		d.Edge("start", "each")
		d.Edge("start", "wide")
		d.Edge("each", "join")
		d.Edge("wide", "join")
		return nil
	}
	h := newHarness(t, define, flowtest.WithChaos(flowtest.Chaos{Seed: 3, Duplicate: 0.5, Reorder: true}))
	res, err := h.Run(ctxT(t), []byte("ab,cd,s"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != engine.StateSucceeded || string(res.Output) != "ab:100000,cd:100000,s:1|wide:350000" {
		t.Fatalf("state %s output %q err %q", res.State, res.Output, res.Err)
	}
	assertCleaned(t, h, res.ID)
}

// A node that fails after its claim reserved its child's record drops the
// record again: the request fails, drains and leaves nothing behind.
func TestFailedNodeLeavesNoReservedChildBehind(t *testing.T) {
	define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("a").Modify(testflow.AppendMod("a"))
		d.Node("b").Apply("broken")
		d.Node("c").Modify(testflow.AppendMod("c"))
		d.Edge("a", "b")
		d.Edge("b", "c")
		return nil
	}
	for _, tt := range []struct {
		name  string
		state faasflow.StateStore
	}{
		{"Transactor", statemem.New()},
		{"plain StateStore", plainState{statemem.New()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, define, flowtest.WithStores(tt.state, nil), noRedrive)
			res, err := h.Run(ctxT(t), []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if res.State != engine.StateFailed || !res.Record.Cleaned {
				t.Fatalf("state %s, cleaned %v; want a failed request, drained", res.State, res.Record.Cleaned)
			}
			if st, ok := res.Record.Nodes["c"]; ok {
				t.Fatalf("node c has status %q; it must never have existed", st.Status)
			}
			assertCleaned(t, h, res.ID)
		})
	}
}
