package flowfile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/flowfile"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

// modes runs each behaviour test with a plain harness and in chaos mode:
// duplicated, reordered, delayed and lost hops, and deliveries that die
// partway through.
var modes = []struct {
	name  string
	chaos *flowtest.Chaos
}{
	{"plain", nil},
	{"chaos", &flowtest.Chaos{Seed: 7, Duplicate: 0.3, Reorder: true, Delay: 0.2, MaxDelay: 3 * time.Millisecond, Drop: 0.1, Kill: 0.1}},
}

func upper(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil }

func reverse(in []byte) ([]byte, error) {
	r := []rune(string(in))
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return []byte(string(r)), nil
}

func wordcount(in []byte) ([]byte, error) { return []byte(fmt.Sprint(len(bytes.Fields(in)))), nil }

// harness builds a flowtest harness for a flow file held in src.
func harness(t *testing.T, src string, chaos *flowtest.Chaos, fns map[string]flowtest.Function) *flowtest.Harness {
	t.Helper()
	def, err := flowfile.Parse("flow.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return harnessFor(t, def.Define, chaos, fns)
}

func harnessFor(t *testing.T, define sdk.DefineFunc, chaos *flowtest.Chaos, fns map[string]flowtest.Function) *flowtest.Harness {
	t.Helper()
	opts := []flowtest.Option{}
	for name, f := range fns {
		opts = append(opts, flowtest.WithFunction(name, f))
	}
	if chaos != nil {
		opts = append(opts, flowtest.WithChaos(*chaos))
	}
	h, err := flowtest.New(define, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func run(t *testing.T, h *flowtest.Harness, input string) *flowtest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.Run(ctx, []byte(input))
	// Chaos may kill the start before it stored the request, as a process
	// can die under a caller, who then calls again.
	for try := 0; errors.Is(err, flowtest.ErrKilled) && try < 5; try++ {
		res, err = h.Run(ctx, []byte(input))
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func want(t *testing.T, res *flowtest.Result, state, output string) {
	t.Helper()
	if res.State != state || (output != "" && string(res.Output) != output) {
		t.Fatalf("got %s %q (error %q); want %s %q", res.State, res.Output, res.Err, state, output)
	}
}

const sequenceFlow = `
Comment: a chain of functions
StartAt: Greet
States:
  Greet:
    Type: Pass
    Result: "hello flows"
    Next: Shout
  Shout:
    Type: Task
    Resource: function:upper
    Next: Mirror
  Mirror:
    Type: Task
    Resource: function:reverse
    Next: Done
  Done:
    Type: Succeed
`

// sequenceGo is the Go flow sequenceFlow stands for.
func sequenceGo(flow *sdk.Workflow, _ *sdk.Context) error {
	dag := flow.Dag()
	dag.Node("Greet").Modify(func([]byte) ([]byte, error) { return []byte(`"hello flows"`), nil })
	dag.Node("Shout").Apply("upper")
	dag.Node("Mirror").Apply("reverse")
	dag.Node("Done")
	dag.Edge("Greet", "Shout")
	dag.Edge("Shout", "Mirror")
	dag.Edge("Mirror", "Done")
	return nil
}

func TestSequenceRunsStatesInOrderLikeTheGoFlow(t *testing.T) {
	fns := map[string]flowtest.Function{"upper": upper, "reverse": reverse}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			res := run(t, harness(t, sequenceFlow, m.chaos, fns), "ignored")
			want(t, res, "succeeded", `"SWOLF OLLEH"`)
			goRes := run(t, harnessFor(t, sequenceGo, m.chaos, fns), "ignored")
			want(t, goRes, "succeeded", string(res.Output))
			if m.chaos == nil && len(res.Record.Nodes) != len(goRes.Record.Nodes) {
				t.Fatalf("node records differ: %v and %v", res.Record.Nodes, goRes.Record.Nodes)
			}
		})
	}
}

const parallelFlow = `
StartAt: Fan
States:
  Fan:
    Type: Parallel
    Branches:
      - StartAt: Up
        States:
          Up: {Type: Task, Resource: "function:upper", End: true}
      - StartAt: Back
        States:
          Back: {Type: Task, Resource: "function:reverse", End: true}
      - StartAt: Count
        States:
          Count: {Type: Task, Resource: "function:wordcount", End: true}
    End: true
`

// parallelGo is the Go flow parallelFlow stands for: a fork, three
// branches and a join whose aggregator builds the array.
func parallelGo(flow *sdk.Workflow, _ *sdk.Context) error {
	dag := flow.Dag()
	dag.Node("in")
	dag.Node("collect", sdk.Aggregator(func(r map[string][]byte) ([]byte, error) {
		return []byte(fmt.Sprintf(`[%q,%q,%s]`, r["Up"], r["Back"], r["Count"])), nil
	}))
	for n, fn := range map[string]string{"Up": "upper", "Back": "reverse", "Count": "wordcount"} {
		dag.Node(n).Apply(fn)
		dag.Edge("in", n)
		dag.Edge(n, "collect")
	}
	return nil
}

func TestParallelJoinsBranchResultsIntoAnArrayLikeTheGoFlow(t *testing.T) {
	fns := map[string]flowtest.Function{"upper": upper, "reverse": reverse, "wordcount": wordcount}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			res := run(t, harness(t, parallelFlow, m.chaos, fns), "one two three")
			want(t, res, "succeeded", `["ONE TWO THREE","eerht owt eno",3]`)
			want(t, run(t, harnessFor(t, parallelGo, m.chaos, fns), "one two three"), "succeeded", string(res.Output))
		})
	}
}
