package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

func nop(in []byte) ([]byte, error) { return in, nil }

func TestValidateRejectsInvalidDefinitionsNamingNodeAndFix(t *testing.T) {
	agg := faasflow.Aggregator(func(map[string][]byte) ([]byte, error) { return nil, nil })
	tests := []struct {
		name   string
		define func(*faasflow.Workflow)
		path   string // node path named in the error
		want   string // part of the problem text
	}{
		{"empty flow", func(*faasflow.Workflow) {}, "", "defines no node"},
		{"cycle", func(f *faasflow.Workflow) {
			d := f.Dag()
			d.Node("s").Modify(nop)
			d.Node("a").Modify(nop)
			d.Node("b").Modify(nop)
			d.Edge("s", "a")
			d.Edge("a", "b")
			d.Edge("b", "a")
		}, "", "cycle"},
		{"self loop", func(f *faasflow.Workflow) {
			f.Dag().Node("a").Modify(nop)
			f.Dag().Edge("a", "a")
		}, "a", "itself"},
		{"edge to an unknown node", func(f *faasflow.Workflow) {
			f.Dag().Node("a").Modify(nop)
			f.Dag().Edge("a", "typo")
		}, "typo", "never defined"},
		{"several start nodes", func(f *faasflow.Workflow) {
			f.Dag().Node("a").Modify(nop)
			f.Dag().Node("b").Modify(nop)
		}, "", "2 start nodes"},
		{"data join without aggregator", func(f *faasflow.Workflow) {
			d := f.Dag()
			for _, n := range []string{"s", "a", "b", "j"} {
				d.Node(n).Modify(nop)
			}
			d.Edge("s", "a")
			d.Edge("s", "b")
			d.Edge("a", "j")
			d.Edge("b", "j")
		}, "j", "without an aggregator"},
		{"duplicate edge", func(f *faasflow.Workflow) {
			d := f.Dag()
			d.Node("a").Modify(nop)
			d.Node("b").Modify(nop)
			d.Edge("a", "b")
			d.Edge("a", "b")
		}, "a", "duplicate edge"},
		{"foreach without aggregator", func(f *faasflow.Workflow) {
			f.Dag().ForEachBranch("each", func([]byte) map[string][]byte { return nil }).Node("x").Modify(nop)
		}, "each", "without an aggregator"},
		{"conditional with a duplicate key", func(f *faasflow.Workflow) {
			b := f.Dag().ConditionalBranch("c", []string{"x", "x"}, func([]byte) []string { return nil }, agg)
			b["x"].Node("n").Modify(nop)
		}, "c", "declared twice"},
		{"empty branch DAG", func(f *faasflow.Workflow) {
			b := f.Dag().ConditionalBranch("c", []string{"x", "y"}, func([]byte) []string { return nil }, agg)
			b["x"].Node("n").Modify(nop)
		}, "c/y", "has no node"},
		{"name with a slash", func(f *faasflow.Workflow) {
			f.Dag().Node("a/b").Modify(nop)
		}, "a/b", "contains '/'"},
		{"nil modifier", func(f *faasflow.Workflow) {
			f.Dag().Node("a").Modify(nil)
		}, "a", "nil Modifier"},
		{"same DAG attached twice", func(f *faasflow.Workflow) {
			sub := faasflow.NewDag()
			sub.Node("x").Modify(nop)
			d := f.Dag()
			d.SubDag("s1", sub)
			d.SubDag("s2", sub)
			d.Edge("s1", "s2")
		}, "s2", "attached twice"},
		{"nested error names the full path", func(f *faasflow.Workflow) {
			sub := faasflow.NewDag()
			sub.Node("in").Modify(nop)
			each := sub.ForEachBranch("each", func([]byte) map[string][]byte { return nil }, agg)
			each.Node("p").Modify(nop)
			each.Node("q").Modify(nop)
			sub.Edge("in", "each")
			f.Dag().SubDag("outer", sub)
		}, "outer/each", "2 start nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wf := faasflow.NewWorkflow()
			tt.define(wf)
			err := wf.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, faasflow.ErrInvalidDefinition) {
				t.Fatalf("error does not wrap ErrInvalidDefinition: %v", err)
			}
			var de *faasflow.DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("not a DefinitionError: %v", err)
			}
			found := false
			for _, e := range unjoin(err) {
				var d *faasflow.DefinitionError
				if errors.As(e, &d) && d.Path == tt.path && strings.Contains(d.Problem, tt.want) && d.Fix != "" {
					found = true
				}
			}
			if !found {
				t.Fatalf("no error for path %q containing %q with a fix in: %v", tt.path, tt.want, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestNodeIDsDependOnNamesNotDefinitionOrder(t *testing.T) {
	build := func(order []string) map[string]string {
		wf := faasflow.NewWorkflow()
		d := wf.Dag()
		for _, n := range order {
			d.Node(n).Modify(nop)
		}
		sub := faasflow.NewDag()
		sub.Node("inner").Modify(nop)
		d.SubDag("sub", sub)
		d.Edge("a", "b")
		d.Edge("b", "c")
		d.Edge("c", "sub")
		if err := wf.Validate(); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, n := range d.Nodes() {
			ids[n.Name()] = n.ID()
		}
		ids["inner"] = sub.Lookup("inner").ID()
		ids["hash"] = wf.Hash()
		return ids
	}
	x, y := build([]string{"a", "b", "c"}), build([]string{"c", "a", "b"})
	for k, v := range x {
		if y[k] != v {
			t.Errorf("%s: %q vs %q", k, v, y[k])
		}
	}
	if x["inner"] != "sub/inner" || x["a"] != "a" {
		t.Fatalf("ids %v", x)
	}
}

func TestHashChangesWithStructure(t *testing.T) {
	mk := func(extra bool) string {
		wf := faasflow.NewWorkflow()
		d := wf.Dag()
		d.Node("a").Modify(nop)
		d.Node("b").Apply("fn")
		d.Edge("a", "b")
		if extra {
			d.Node("c").Modify(nop)
			d.Edge("b", "c")
		}
		if err := wf.Validate(); err != nil {
			t.Fatal(err)
		}
		return wf.Hash()
	}
	if mk(false) == mk(true) {
		t.Fatal("hash ignores an added node")
	}
	if mk(false) != mk(false) {
		t.Fatal("hash is not deterministic")
	}
}

func TestDeprecatedGettersNeverPanic(t *testing.T) {
	ctx := faasflow.NewContext(context.Background(), "f", "r", nil, nil)
	if ctx.GetString("x") != "" || ctx.GetInt("x") != 0 || ctx.GetBool("x") || ctx.GetBytes("x") != nil {
		t.Fatal("zero values expected")
	}
	if _, err := ctx.LookupString("x"); !errors.Is(err, faasflow.ErrKeyNotFound) {
		t.Fatalf("err %v", err)
	}
}
