package sdk

import (
	"fmt"
	"time"
)

// Workflow is what Define fills in: a root DAG plus the request-level
// failure and finally handlers.
type Workflow struct {
	root      *Dag
	onFailure PipelineErrorHandler
	finally   PipelineHandler
}

// NewWorkflow returns an empty workflow. Executors call it before Define.
func NewWorkflow() *Workflow { return &Workflow{root: NewDag()} }

// SyncNode returns the flow's single synchronous node, named "sync". A flow
// made of one node runs entirely inside the first call and returns its result
// in the response.
func (w *Workflow) SyncNode(opts ...BranchOption) *Node {
	return w.root.Node("sync", opts...)
}

// Dag returns the root DAG.
func (w *Workflow) Dag() *Dag { return w.root }

// SetDag replaces the root DAG.
func (w *Workflow) SetDag(dag *Dag) {
	if dag == nil {
		dag = NewDag()
	}
	w.root = dag
}

// NewDag returns a detached DAG, to be attached with Dag.SubDag or
// Workflow.SetDag.
func (w *Workflow) NewDag() *Dag { return NewDag() }

// OnFailure sets the handler called once when a request fails.
func (w *Workflow) OnFailure(handler PipelineErrorHandler) { w.onFailure = handler }

// Finally sets the handler called once when a request ends.
func (w *Workflow) Finally(handler PipelineHandler) { w.finally = handler }

// FailureHandler returns the handler set with OnFailure, or nil.
func (w *Workflow) FailureHandler() PipelineErrorHandler { return w.onFailure }

// FinallyHandler returns the handler set with Finally, or nil.
func (w *Workflow) FinallyHandler() PipelineHandler { return w.finally }

// Dag is a directed acyclic graph of nodes. Methods record definition
// mistakes instead of panicking; Workflow.Validate reports them.
type Dag struct {
	id     string // path of the DAG; "" for the root
	parent *Node  // composite node that owns the DAG, nil for root/detached
	nodes  map[string]*Node
	order  []*Node
	errs   []*DefinitionError
	// set by Validate
	start *Node
	ends  []*Node
}

// NewDag returns an empty, detached DAG.
func NewDag() *Dag { return &Dag{nodes: make(map[string]*Node)} }

func (d *Dag) fail(path, problem, fix string) {
	d.errs = append(d.errs, &DefinitionError{Path: path, Problem: problem, Fix: fix})
}

// Node returns the node called name, creating it if needed. An Aggregator
// option makes it a join node that merges its inputs; Retry, NodeTimeout
// and MaxConcurrency set its policies.
func (d *Dag) Node(name string, opts ...BranchOption) *Node {
	n := d.vertex(name)
	n.declared = true
	n.applyOptions(applyBranchOptions(opts))
	return n
}

func (d *Dag) vertex(name string) *Node {
	if n, ok := d.nodes[name]; ok {
		return n
	}
	n := &Node{name: name, dag: d}
	d.nodes[name] = n
	d.order = append(d.order, n)
	return n
}

// Edge connects from to to. Data flows along it unless InvokeEdge is given;
// Forwarder transforms the data for this edge only. A duplicate edge is an
// error; both nodes must be defined with Node (or another constructor).
func (d *Dag) Edge(from, to string, opts ...BranchOption) {
	f, t := d.vertex(from), d.vertex(to)
	for _, c := range f.children {
		if c == t {
			d.fail(d.path(from), fmt.Sprintf("duplicate edge %q -> %q", from, to), "declare each edge once")
			return
		}
	}
	if from == to {
		d.fail(d.path(from), "edge from a node to itself", "remove the edge; loops are not allowed in a DAG")
		return
	}
	// Most edges have no options: the map (a missing key reads as none)
	// is made for the first edge that has some, since Define runs for
	// every hop.
	if len(opts) > 0 {
		if f.edges == nil {
			f.edges = make(map[string]BranchOptions)
		}
		f.edges[to] = applyBranchOptions(opts)
	}
	f.children = append(f.children, t)
	t.parents = append(t.parents, f)
}

// SubDag adds a node that runs dag inline: entering it costs no extra hop,
// and its result is the result of dag's end node.
func (d *Dag) SubDag(name string, dag *Dag) {
	n := d.Node(name)
	if dag == nil {
		d.fail(d.path(name), "SubDag with a nil DAG", "pass a DAG made with NewDag")
		return
	}
	if n.kind != KindPlain {
		d.fail(d.path(name), "node is already a "+n.kind.String()+" node", "use another name")
		return
	}
	n.kind = KindSubDag
	n.sub = dag
}

// Append merges the nodes and edges of dag into d. Names must not collide;
// link the merged nodes with Edge.
func (d *Dag) Append(dag *Dag) {
	if dag == nil {
		return
	}
	for _, n := range dag.order {
		if _, clash := d.nodes[n.name]; clash {
			d.fail(d.path(n.name), "Append: node name used in both DAGs", "rename one of the nodes")
			continue
		}
		n.dag = d
		d.nodes[n.name] = n
		d.order = append(d.order, n)
	}
	d.errs = append(d.errs, dag.errs...)
}

// ForEachBranch adds a foreach node and returns the DAG each branch runs.
// foreach splits the node's input into keyed branch inputs; every key runs the
// returned DAG in parallel (MaxConcurrency limits how many at once), and the
// Aggregator option (required unless InvokeEdge) merges their results.
func (d *Dag) ForEachBranch(name string, foreach ForEach, opts ...BranchOption) *Dag {
	n := d.Node(name)
	n.applyBranchOptionsDynamic(applyBranchOptions(opts))
	sub := NewDag()
	if n.kind != KindPlain {
		d.fail(d.path(name), "node is already a "+n.kind.String()+" node", "use another name")
		return sub
	}
	if foreach == nil {
		d.fail(d.path(name), "ForEachBranch with a nil ForEach function", "pass a function that splits the input")
	}
	n.kind = KindForEach
	n.forEach = foreach
	n.sub = sub
	return sub
}

// ConditionalBranch adds a conditional node with one DAG per declared
// condition key and returns them. condition selects the keys to run (several
// may run in parallel); the Aggregator option (required unless InvokeEdge)
// merges their results keyed by condition. If condition selects no key, the
// node's input passes through unchanged. Selecting an undeclared key fails
// the request with ErrUndeclaredCondition.
func (d *Dag) ConditionalBranch(name string, conditions []string, condition Condition, opts ...BranchOption) map[string]*Dag {
	n := d.Node(name)
	n.applyBranchOptionsDynamic(applyBranchOptions(opts))
	out := make(map[string]*Dag, len(conditions))
	for _, c := range conditions {
		out[c] = NewDag()
	}
	if n.kind != KindPlain {
		d.fail(d.path(name), "node is already a "+n.kind.String()+" node", "use another name")
		return out
	}
	if condition == nil {
		d.fail(d.path(name), "ConditionalBranch with a nil Condition", "pass a function that selects condition keys")
	}
	if len(conditions) == 0 {
		d.fail(d.path(name), "ConditionalBranch declares no condition", "list the condition keys")
	}
	n.kind = KindConditional
	n.condition = condition
	n.conditions = make([]string, 0, len(conditions))
	n.branches = make(map[string]*Dag, len(conditions))
	for _, c := range conditions {
		if _, dup := n.branches[c]; dup {
			d.fail(d.path(name), fmt.Sprintf("condition %q declared twice", c), "declare each condition once")
			continue
		}
		n.conditions = append(n.conditions, c)
		n.branches[c] = out[c]
	}
	return out
}

func (d *Dag) path(name string) string {
	if d.id == "" {
		return name
	}
	return d.id + "/" + name
}

// ID returns the DAG's path ("" for the root). Valid after Validate.
func (d *Dag) ID() string { return d.id }

// Nodes returns the DAG's nodes in definition order.
func (d *Dag) Nodes() []*Node { return d.order }

// Lookup returns the node called name, or nil.
func (d *Dag) Lookup(name string) *Node { return d.nodes[name] }

// Start returns the DAG's start node (the one with no parents). Valid after
// Validate.
func (d *Dag) Start() *Node { return d.start }

// Ends returns the DAG's end nodes (no children) in definition order. Valid
// after Validate.
func (d *Dag) Ends() []*Node { return d.ends }

// Parent returns the composite node that owns the DAG, or nil for the root.
func (d *Dag) Parent() *Node { return d.parent }

// NodeKind tells what a node does after its operations.
type NodeKind int

// Node kinds.
const (
	KindPlain       NodeKind = iota // operations only
	KindSubDag                      // runs a sub-DAG inline
	KindConditional                 // runs selected condition branches
	KindForEach                     // runs one branch per key
)

func (k NodeKind) String() string {
	switch k {
	case KindSubDag:
		return "subdag"
	case KindConditional:
		return "conditional"
	case KindForEach:
		return "foreach"
	default:
		return "plain"
	}
}

// Node is one vertex of a DAG: an ordered list of operations, optionally
// followed by a sub-DAG, conditional branches or foreach branches.
type Node struct {
	name     string
	id       string
	dag      *Dag
	declared bool
	ops      []*Op

	children []*Node
	parents  []*Node
	edges    map[string]BranchOptions // by child name

	kind       NodeKind
	sub        *Dag            // subdag or foreach body
	branches   map[string]*Dag // conditional
	conditions []string        // declared order
	condition  Condition
	forEach    ForEach

	aggregator      AggregatorFunc // join aggregator
	subAggregator   AggregatorFunc // dynamic sub-aggregator
	dynamicExecOnly bool
	retry           *RetryPolicy
	timeout         time.Duration
	maxConcurrency  int
	tolerated       int     // foreach: branches that may fail
	toleratedPct    float64 // foreach: percent of branches that may fail
}

func (n *Node) applyOptions(o BranchOptions) {
	if o.aggregator != nil {
		n.aggregator = o.aggregator
	}
	if o.retry != nil {
		n.retry = o.retry
	}
	if o.timeout != 0 {
		n.timeout = o.timeout
	}
	if o.maxConcurrency != 0 {
		n.maxConcurrency = o.maxConcurrency
	}
	if o.tolerated != 0 {
		n.tolerated = o.tolerated
	}
	if o.toleratedPct != 0 {
		n.toleratedPct = o.toleratedPct
	}
}

func (n *Node) applyBranchOptionsDynamic(o BranchOptions) {
	if o.aggregator != nil {
		n.subAggregator = o.aggregator
	}
	if o.noDataForward {
		n.dynamicExecOnly = true
	}
	o.aggregator = nil
	n.applyOptions(o)
}

func (n *Node) addOp(op *Op) *Node {
	op.index = len(n.ops)
	n.ops = append(n.ops, op)
	return n
}

// Modify adds an inline Go operation.
func (n *Node) Modify(mod Modifier) *Node {
	return n.addOp(&Op{Kind: OpModify, Modify: mod})
}

// ModifyContext adds an inline Go operation that receives the invocation's
// context.Context.
func (n *Node) ModifyContext(mod ContextModifier) *Node {
	return n.addOp(&Op{Kind: OpModify, ModifyContext: mod})
}

// Apply adds a call to the OpenFaaS function called function, through the
// gateway.
func (n *Node) Apply(function string, opts ...Option) *Node {
	return n.addOp(&Op{Kind: OpFunction, Target: function, Options: applyOptions(opts)})
}

// Request adds an HTTP call to url; its response body is the output.
func (n *Node) Request(url string, opts ...Option) *Node {
	return n.addOp(&Op{Kind: OpRequest, Target: url, Options: applyOptions(opts)})
}

// Callback adds an HTTP POST of the data to url; the data passes through
// unchanged.
func (n *Node) Callback(url string, opts ...Option) *Node {
	return n.addOp(&Op{Kind: OpCallback, Target: url, Options: applyOptions(opts)})
}

// AddOperation adds a custom operation.
func (n *Node) AddOperation(operation Operation) *Node {
	return n.addOp(&Op{Kind: OpCustom, Custom: operation})
}

func applyOptions(opts []Option) Options {
	var o Options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// Name returns the node's name within its DAG.
func (n *Node) Name() string { return n.name }

// ID returns the node's stable id: the names of the enclosing composite nodes
// (and condition keys) and its own name, joined by "/". It depends only on
// names, never on definition order. Valid after Validate.
func (n *Node) ID() string { return n.id }

// Dag returns the DAG the node belongs to.
func (n *Node) Dag() *Dag { return n.dag }

// Operations returns the node's operations in order.
func (n *Node) Operations() []*Op { return n.ops }

// Children returns the nodes this node has edges to, in definition order.
func (n *Node) Children() []*Node { return n.children }

// Parents returns the nodes with an edge to this node, in definition order.
func (n *Node) Parents() []*Node { return n.parents }

// EdgeOptions returns the options of the edge from n to child.
func (n *Node) EdgeOptions(child *Node) (forwarder ForwarderFunc, dataForwarded bool) {
	o := n.edges[child.name]
	return o.forwarder, !o.noDataForward
}

// Kind tells what the node does after its operations.
func (n *Node) Kind() NodeKind { return n.kind }

// SubDag returns the sub-DAG of a subdag node or the branch DAG of a foreach
// node.
func (n *Node) SubDag() *Dag { return n.sub }

// Conditions returns the declared condition keys of a conditional node.
func (n *Node) Conditions() []string { return n.conditions }

// Branch returns the DAG of condition key, or nil.
func (n *Node) Branch(key string) *Dag { return n.branches[key] }

// ConditionFunc returns the condition of a conditional node.
func (n *Node) ConditionFunc() Condition { return n.condition }

// ForEachFunc returns the split function of a foreach node.
func (n *Node) ForEachFunc() ForEach { return n.forEach }

// Aggregator returns the join aggregator of the node, or nil.
func (n *Node) Aggregator() AggregatorFunc { return n.aggregator }

// SubAggregator returns the branch aggregator of a dynamic node, or nil.
func (n *Node) SubAggregator() AggregatorFunc { return n.subAggregator }

// BranchDataForwarded reports whether data flows into and out of the
// branches of a dynamic node.
func (n *Node) BranchDataForwarded() bool { return !n.dynamicExecOnly }

// RetryPolicy returns the node's retry policy, or nil.
func (n *Node) RetryPolicy() *RetryPolicy { return n.retry }

// Timeout returns the node's per-attempt timeout (0: none).
func (n *Node) Timeout() time.Duration { return n.timeout }

// MaxConcurrency returns the foreach concurrency limit (0: none).
func (n *Node) MaxConcurrency() int { return n.maxConcurrency }

// ToleratedFailures returns how many branches of a foreach node may fail
// (ToleratedFailures), and what percent of them (ToleratedFailurePercent);
// zero for both means that a failing branch fails the node.
func (n *Node) ToleratedFailures() (count int, percent float64) { return n.tolerated, n.toleratedPct }

// ToleratesFailures reports whether some branches of the node may fail.
func (n *Node) ToleratesFailures() bool { return n.tolerated > 0 || n.toleratedPct > 0 }

// InDegree returns the number of parents.
func (n *Node) InDegree() int { return len(n.parents) }

// DataInDegree returns the number of parents that forward data to n.
func (n *Node) DataInDegree() int {
	c := 0
	for _, p := range n.parents {
		if !p.edges[n.name].noDataForward {
			c++
		}
	}
	return c
}

// IsDynamic reports whether the node is a conditional or foreach node.
func (n *Node) IsDynamic() bool { return n.kind == KindConditional || n.kind == KindForEach }
