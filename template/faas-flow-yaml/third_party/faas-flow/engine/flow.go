package engine

import (
	"context"
	"fmt"

	"github.com/faas-flow/faas-flow/sdk"
)

// Flow is a flow definition that has been compiled: its Define run once
// with an export context and the workflow it defines validated. It holds
// what the structure fixes for every request: the definition hash, whether
// the flow runs in one call, and where requests start.
type Flow struct {
	name   string
	define sdk.DefineFunc
	wf     *sdk.Workflow
	hash   string
	sync   bool
	start  []Frame // cursor of the first node (descending into sub-DAGs)
}

// Compile runs define once for the flow called name, validates what it
// defines and returns the compiled flow. An error or panic of define, and a
// mistake in the definition, are returned.
func Compile(name string, define sdk.DefineFunc) (*Flow, error) {
	if define == nil {
		return nil, fmt.Errorf("%w: nil Define function", ErrConfig)
	}
	f := &Flow{name: name, define: define}
	wf, err := f.build(sdk.NewContext(context.Background(), name, "export", nil, nil))
	if err != nil {
		return nil, err
	}
	nodes := wf.Dag().Nodes()
	f.wf, f.hash = wf, wf.Hash()
	f.sync = len(nodes) == 1 && nodes[0].Kind() == sdk.KindPlain
	f.start = leafCursor(nil, wf.Dag().Start())
	return f, nil
}

// Name returns the flow's name.
func (f *Flow) Name() string { return f.name }

// Hash returns the hash of the flow's structure.
func (f *Flow) Hash() string { return f.hash }

// IsSync reports whether the flow is a single node that runs inside the
// first call, with no stores and no hops.
func (f *Flow) IsSync() bool { return f.sync }

// build runs Define with sctx and validates the result. A panic in Define
// is returned as an error.
func (f *Flow) build(sctx *sdk.Context) (wf *sdk.Workflow, err error) {
	wf = sdk.NewWorkflow()
	defer func() {
		if v := recover(); v != nil {
			err = &sdk.PanicError{Where: "Define", Value: v}
		}
	}()
	if err := f.define(wf, sctx); err != nil {
		return nil, fmt.Errorf("define: %w", err)
	}
	if err := wf.Validate(); err != nil {
		return nil, err
	}
	return wf, nil
}

// leafCursor extends parent with node, descending into sub-DAG start nodes
// until a node that runs operations (a plain or dynamic node).
func leafCursor(parent []Frame, n *sdk.Node) []Frame {
	c := append(append([]Frame(nil), parent...), Frame{Node: n.Name()})
	for n.Kind() == sdk.KindSubDag {
		n = n.SubDag().Start()
		c = append(c, Frame{Node: n.Name()})
	}
	return c
}
