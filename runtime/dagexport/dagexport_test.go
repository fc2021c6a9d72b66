package dagexport_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/runtime/dagexport"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

func pass(d []byte) ([]byte, error)         { return d, nil }
func agg(map[string][]byte) ([]byte, error) { return nil, nil }
func cond([]byte) []string                  { return []string{"yes"} }
func each([]byte) map[string][]byte         { return map[string][]byte{"k": nil} }
func fwd(d []byte) []byte                   { return d }
func build(t *testing.T, define func(*faasflow.Workflow)) *faasflow.Workflow {
	t.Helper()
	wf := faasflow.NewWorkflow()
	define(wf)
	if err := wf.Validate(); err != nil {
		t.Fatal(err)
	}
	return wf
}

// every construct: edges (data, forwarder, execution-only), a join with an
// aggregator, a conditional, a foreach, a sub-DAG, every operation kind.
func everything(wf *faasflow.Workflow) {
	dag := wf.Dag()
	dag.Node("start").Modify(pass).Apply("fn", faasflow.OnFailure(func(error) error { return nil })).
		Request("http://example.com/x?secret=1").Callback("http://cb/hook")
	dag.Node("left").Apply("l")
	dag.Node("right").Apply("r")
	dag.Node("join", faasflow.Aggregator(agg), faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 3}))
	dag.Edge("start", "left")
	dag.Edge("start", "right", faasflow.Forwarder(fwd))
	dag.Edge("left", "join")
	dag.Edge("right", "join")
	br := dag.ConditionalBranch("check", []string{"yes", "no"}, cond, faasflow.Aggregator(agg))
	br["yes"].Node("y1").Modify(pass)
	br["no"].Node("n1").Modify(pass)
	fe := dag.ForEachBranch("each", each, faasflow.InvokeEdge(), faasflow.MaxConcurrency(2))
	fe.Node("work").Apply("worker")
	sub := wf.NewDag()
	sub.Node("s1").Modify(pass)
	sub.Node("s2").Modify(pass)
	sub.Edge("s1", "s2")
	dag.SubDag("inner", sub)
	dag.Node(`odd "name" <x>|y`).Modify(pass)
	dag.Edge("join", "check")
	dag.Edge("check", "each", faasflow.InvokeEdge())
	dag.Edge("each", "inner")
	dag.Edge("inner", `odd "name" <x>|y`)
}

func TestExportHasFaasFlowFields(t *testing.T) {
	wf := build(t, everything)
	b, err := dagexport.JSON(wf)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["id"] != "0" || m["start-node"] != "start" || m["end-node"] != `odd "name" <x>|y` || m["has-branch"] != true ||
		m["has-edge"] != true || m["exec-only-dag"] != false || m["is-valid"] != true {
		t.Fatalf("dag fields: %s", b)
	}
	nodes := m["nodes"].(map[string]any)
	start := nodes["start"].(map[string]any)
	for _, k := range []string{"id", "node-index", "unique-id", "is-dynamic", "is-condition", "is-foreach", "has-aggregator",
		"has-sub-aggregator", "has-subdag", "in-degree", "out-degree", "dynamic-exec-only", "operations", "childrens", "child-exec-only"} {
		if _, ok := start[k]; !ok {
			t.Errorf("node lacks %q", k)
		}
	}
	ops := start["operations"].([]any)
	if len(ops) != 4 {
		t.Fatalf("operations %v", ops)
	}
	apply := ops[1].(map[string]any)
	props := apply["properties"].(map[string]any)
	if apply["name"] != "fn" || props["isFunction"].([]any)[0] != "true" || props["hasFailureHandler"].([]any)[0] != "true" {
		t.Fatalf("apply op %v", apply)
	}
	if start["node-index"].(float64) != 1 || start["out-degree"].(float64) != 2 {
		t.Fatalf("start %v", start)
	}
	check := nodes["check"].(map[string]any)
	cd := check["conditional-dags"].(map[string]any)
	if check["is-condition"] != true || check["has-sub-aggregator"] != true || len(cd) != 2 ||
		cd["yes"].(map[string]any)["start-node"] != "y1" || cd["yes"].(map[string]any)["id"] != "check/yes" {
		t.Fatalf("check %v", check)
	}
	if e := nodes["each"].(map[string]any); e["is-foreach"] != true || e["dynamic-exec-only"] != true || e["foreach-dag"] == nil || e["max-concurrency"].(float64) != 2 {
		t.Fatalf("each %v", e)
	}
	if c := check["child-exec-only"].(map[string]any); c["each"] != true {
		t.Fatalf("child-exec-only %v", c)
	}
	inner := nodes["inner"].(map[string]any)
	if inner["has-subdag"] != true || inner["sub-dag"].(map[string]any)["end-node"] != "s2" {
		t.Fatalf("inner %v", inner)
	}
	if j := nodes["join"].(map[string]any); j["max-attempts"].(float64) != 3 || j["has-aggregator"] != true {
		t.Fatalf("join %v", j)
	}
}

func TestDOTIsWellFormedAndEscaped(t *testing.T) {
	dot := string(dagexport.DOT(build(t, everything), `my "flow"`))
	for _, want := range []string{
		`digraph "my \"flow\"" {`,
		`"start" -> "left";`,
		`"start" -> "right";`,
		`"check" -> "check/yes/y1" [style=dotted, label="yes"];`,
		`"check/yes/y1" -> "check/[end]" [style=dotted];`,
		`"check/[end]" -> "each" [style=dashed];`,
		`"each" -> "each/work" [style=dashed];`,
		`"inner/s1" -> "inner/s2";`,
		`"inner/[end]" -> "odd \"name\" <x>|y";`,
		`subgraph "cluster_check/no" {`,
		`label="start\nmodify\napply fn\nrequest http://example.com/x\ncallback http://cb/hook"`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s\n%s", want, dot)
		}
	}
	if strings.Contains(dot, "secret=1") {
		t.Error("DOT shows a URL's query string")
	}
	if strings.Count(dot, "{") != strings.Count(dot, "}") {
		t.Errorf("unbalanced braces:\n%s", dot)
	}
}

func TestMermaidIsWellFormedAndEscaped(t *testing.T) {
	mm := string(dagexport.Mermaid(build(t, everything)))
	if !strings.HasPrefix(mm, "flowchart TD\n") {
		t.Fatalf("header: %s", mm)
	}
	if strings.Count(mm, "subgraph ") != strings.Count(mm, "\n  end\n")+strings.Count(mm, "\n    end\n") {
		t.Errorf("unbalanced subgraphs:\n%s", mm)
	}
	for _, want := range []string{`odd #quot;name#quot; #lt;x#gt;#124;y`, `-.->|"yes"|`, "<br/>apply fn"} {
		if !strings.Contains(mm, want) {
			t.Errorf("Mermaid lacks %s\n%s", want, mm)
		}
	}
	for _, line := range strings.Split(mm, "\n") {
		if strings.Count(line, `"`)%2 != 0 {
			t.Errorf("unbalanced quotes in %q", line)
		}
	}
}

func TestSyncFlowExport(t *testing.T) {
	wf := build(t, func(wf *faasflow.Workflow) { wf.SyncNode().Modify(pass) })
	ex := dagexport.Export(wf, nil)
	if ex.StartNode != "sync" || ex.EndNode != "sync" || ex.HasEdge || ex.ExecutionOnlyDag || len(ex.Nodes) != 1 {
		t.Fatalf("%+v", ex)
	}
	if !strings.Contains(string(dagexport.DOT(wf, "f")), `"sync" [label="sync\nmodify"];`) {
		t.Fatal(string(dagexport.DOT(wf, "f")))
	}
}
