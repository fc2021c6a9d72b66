package sdk

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalidDefinition is wrapped by every error Validate returns.
var ErrInvalidDefinition = errors.New("invalid flow definition")

// ErrUndeclaredCondition is returned (wrapped) when a Condition selects a key
// that ConditionalBranch did not declare.
var ErrUndeclaredCondition = errors.New("condition selected an undeclared branch")

// DefinitionError describes one mistake in a flow definition.
type DefinitionError struct {
	Path    string // node path, e.g. "split/each/fetch"; "" for the flow
	Problem string
	Fix     string
}

func (e *DefinitionError) Error() string {
	where := "flow"
	if e.Path != "" {
		where = fmt.Sprintf("node %q", e.Path)
	}
	return fmt.Sprintf("faasflow: %s: %s; fix: %s", where, e.Problem, e.Fix)
}

// Unwrap lets errors.Is match ErrInvalidDefinition.
func (e *DefinitionError) Unwrap() error { return ErrInvalidDefinition }

// Validate checks the definition, assigns stable node ids and computes the
// definition hash. It returns every problem found, joined; each wraps
// ErrInvalidDefinition and names the node path and the fix.
func (w *Workflow) Validate() error {
	v := &validator{seen: make(map[*Dag]bool)}
	if len(w.root.order) == 0 {
		v.add("", "the flow defines no node", "add a node with flow.SyncNode() or flow.Dag().Node(name)")
	} else {
		w.root.parent = nil
		v.dag(w.root, "")
	}
	if len(v.errs) == 0 {
		return nil
	}
	errs := make([]error, len(v.errs))
	for i, e := range v.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

type validator struct {
	errs []*DefinitionError
	seen map[*Dag]bool
}

func (v *validator) add(path, problem, fix string) {
	v.errs = append(v.errs, &DefinitionError{Path: path, Problem: problem, Fix: fix})
}

// dag validates d, whose id (path) is id, and the DAGs inside its nodes: it
// assigns the ids of d and its nodes, finds d's start and end nodes, and
// records every problem of d, of its nodes and of d's shape (exactly one
// start node, no cycle).
func (v *validator) dag(d *Dag, id string) {
	if v.seen[d] {
		v.add(id, "the same DAG is attached twice (or inside itself)", "build a separate DAG with NewDag for each place")
		return
	}
	v.seen[d] = true
	d.id = id
	v.errs = append(v.errs, d.errs...)
	if len(d.order) == 0 {
		v.add(id, "the DAG has no node", "add at least one node to it")
		return
	}
	d.start, d.ends = nil, nil
	var starts []string
	for _, n := range d.order {
		n.dag = d
		n.id = d.path(n.name)
		if len(n.parents) == 0 {
			starts = append(starts, n.name)
			if d.start == nil {
				d.start = n
			}
		}
		if len(n.children) == 0 {
			d.ends = append(d.ends, n)
		}
		v.node(n)
		v.inner(n)
	}
	if len(starts) > 1 {
		v.add(id, fmt.Sprintf("the DAG has %d start nodes (%s)", len(starts), strings.Join(starts, ", ")),
			"connect them with edges so exactly one node has no parent")
	}
	if len(starts) == 0 || hasCycle(d) {
		v.add(id, "the DAG has a cycle", "remove an edge of the cycle; loops are not allowed")
	}
}

// node records the problems of node n itself: its name, an edge to it that
// was never defined, a data join without an aggregator, negative limits and
// incomplete operations. n.id must be set.
func (v *validator) node(n *Node) {
	if err := checkName(n.name); err != "" {
		v.add(n.id, err, "use a name made of letters, digits, '-', '_' or '.'")
	}
	if !n.declared {
		v.add(n.id, "an edge refers to a node that is never defined", fmt.Sprintf("define it with dag.Node(%q) or correct the edge", n.name))
	}
	if n.DataInDegree() > 1 && n.aggregator == nil {
		v.add(n.id, fmt.Sprintf("join of %d data edges without an aggregator", n.DataInDegree()),
			"add faasflow.Aggregator(...) to the node, or make the extra edges faasflow.InvokeEdge()")
	}
	if n.maxConcurrency < 0 {
		v.add(n.id, "negative MaxConcurrency", "use 0 (no limit) or a positive number")
	}
	if n.tolerated < 0 || n.toleratedPct < 0 || n.toleratedPct > 100 {
		v.add(n.id, "tolerated failures out of range", "use ToleratedFailures(n) with n >= 0, ToleratedFailurePercent(p) with 0 <= p <= 100")
	}
	if (n.tolerated != 0 || n.toleratedPct != 0) && n.kind != KindForEach {
		v.add(n.id, "tolerated failures on a node that is not a foreach", "set ToleratedFailures or ToleratedFailurePercent on a ForEachBranch")
	}
	if n.timeout < 0 {
		v.add(n.id, "negative NodeTimeout", "use 0 (no limit) or a positive duration")
	}
	for _, op := range n.ops {
		if op.Kind == OpModify && op.Modify == nil && op.ModifyContext == nil {
			v.add(n.id, fmt.Sprintf("operation %d: nil Modifier", op.index), "pass a function to Modify")
		}
		if (op.Kind == OpFunction || op.Kind == OpRequest || op.Kind == OpCallback) && op.Target == "" {
			v.add(n.id, fmt.Sprintf("operation %d: empty function name or URL", op.index), "name the function or URL")
		}
		if op.Kind == OpCustom && op.Custom == nil {
			v.add(n.id, fmt.Sprintf("operation %d: nil Operation", op.index), "pass an Operation to AddOperation")
		}
	}
}

// inner validates the DAGs inside node n (a sub-DAG, a foreach branch or
// the branches of a conditional), linking each to n as its parent, and
// records a foreach or conditional node that forwards data without an
// aggregator.
func (v *validator) inner(n *Node) {
	switch n.kind {
	case KindSubDag:
		n.sub.parent = n
		v.dag(n.sub, n.id)
	case KindForEach:
		if n.subAggregator == nil && !n.dynamicExecOnly {
			v.add(n.id, "foreach node forwards data without an aggregator", "add faasflow.Aggregator(...) to ForEachBranch, or faasflow.InvokeEdge()")
		}
		n.sub.parent = n
		v.dag(n.sub, n.id)
	case KindConditional:
		if n.subAggregator == nil && !n.dynamicExecOnly {
			v.add(n.id, "conditional node forwards data without an aggregator", "add faasflow.Aggregator(...) to ConditionalBranch, or faasflow.InvokeEdge()")
		}
		for _, c := range n.conditions {
			if err := checkName(c); err != "" {
				v.add(n.id, fmt.Sprintf("condition %q: %s", c, err), "use a key made of letters, digits, '-', '_' or '.'")
				continue
			}
			b := n.branches[c]
			b.parent = n
			v.dag(b, n.id+"/"+c)
		}
	}
}

func checkName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case name == "." || name == "..":
		return "name " + strconv.Quote(name) + " is reserved"
	case strings.ContainsAny(name, "/[]"):
		return "name contains '/', '[' or ']'"
	}
	return ""
}

func hasCycle(d *Dag) bool {
	const (
		white = iota
		grey
		black
	)
	color := make(map[*Node]int, len(d.order))
	var visit func(n *Node) bool
	visit = func(n *Node) bool {
		color[n] = grey
		for _, c := range n.children {
			switch color[c] {
			case grey:
				return true
			case white:
				if visit(c) {
					return true
				}
			}
		}
		color[n] = black
		return false
	}
	for _, n := range d.order {
		if color[n] == white && visit(n) {
			return true
		}
	}
	return false
}

// Hash returns a digest of the definition's structure: node ids, kinds,
// operations, edges and options (not the Go code inside functions). Hops of a
// request carry it so that a redeploy with a different structure is detected.
// Call it after a successful Validate.
func (w *Workflow) Hash() string {
	h := sha256.New()
	var walk func(d *Dag)
	walk = func(d *Dag) {
		fmt.Fprintf(h, "dag %q\n", d.id)
		nodes := append([]*Node(nil), d.order...)
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].id < nodes[j].id })
		for _, n := range nodes {
			fmt.Fprintf(h, "node %q %d agg=%t sub=%t exec=%t c=%d\n", n.id, n.kind,
				n.aggregator != nil, n.subAggregator != nil, n.dynamicExecOnly, n.maxConcurrency)
			for _, op := range n.ops {
				fmt.Fprintf(h, " op %d %q\n", op.Kind, op.ID())
			}
			children := append([]*Node(nil), n.children...)
			sort.Slice(children, func(i, j int) bool { return children[i].name < children[j].name })
			for _, c := range children {
				o := n.edges[c.name]
				fmt.Fprintf(h, " edge %q data=%t fwd=%t\n", c.name, !o.noDataForward, o.forwarder != nil)
			}
			switch n.kind {
			case KindSubDag, KindForEach:
				walk(n.sub)
			case KindConditional:
				keys := append([]string(nil), n.conditions...)
				sort.Strings(keys)
				for _, k := range keys {
					walk(n.branches[k])
				}
			}
		}
	}
	walk(w.root)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}
