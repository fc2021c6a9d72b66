package flowfile

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/faas-flow/faas-flow/sdk"
)

// Define defines the flow on flow, as a Go flow's Define does: it is a
// sdk.DefineFunc. Each state becomes a node named after it; a Choice
// becomes a conditional node, a Parallel a conditional node that selects
// all its branches, and a Map a foreach node.
func (def *Definition) Define(flow *sdk.Workflow, ctx *sdk.Context) error {
	if def == nil || def.root == nil {
		return fmt.Errorf("%w: the definition was not made by Load, LoadFS or Parse", ErrInvalid)
	}
	b := &builder{ctx: ctx}
	b.chain(flow.Dag(), def.root.plan)
	return nil
}

// builder adds the nodes of a plan to DAGs. ctx is the request's context,
// which holds the faults of a Map's failed items when its aggregator runs.
type builder struct{ ctx *sdk.Context }

// skipNode names the node of a Choice branch that goes straight to the
// Choice's join: it passes its input through.
const skipNode = "skip"

// chain adds the steps of c to dag, each the child of the one before.
func (b *builder) chain(dag *sdk.Dag, c chain) {
	if len(c) == 0 {
		dag.Node(skipNode)
		return
	}
	for i, st := range c {
		b.step(dag, st)
		if i > 0 {
			dag.Edge(c[i-1].st.name, st.st.name)
		}
	}
}

// step adds the node of one state.
func (b *builder) step(dag *sdk.Dag, st *step) {
	s := st.st
	switch s.typ {
	case typeChoice:
		b.choice(dag, st)
		return
	case typeParallel:
		b.parallel(dag, s)
		return
	case typeMap:
		b.mapState(dag, s)
		return
	}
	var opts []sdk.BranchOption
	if s.retry != nil {
		opts = append(opts, sdk.Retry(s.retry.policy()))
	}
	if s.timeout > 0 {
		opts = append(opts, sdk.NodeTimeout(s.timeout))
	}
	n := dag.Node(s.name, opts...)
	switch s.typ {
	case typeTask:
		b.task(n, s)
	case typePass:
		n.Modify(func(in []byte) ([]byte, error) { return pass(s, in) })
	case typeSucceed:
		selectPath(n, s, s.inputPath)
		selectPath(n, s, s.outputPath)
	case typeFail:
		failure := &StateError{State: s.name, Name: s.errName, Cause: s.cause}
		n.Modify(func([]byte) ([]byte, error) { return nil, sdk.Permanent(failure) })
	}
}

// task adds the operations of a Task state to n: InputPath, Parameters,
// the function call, ResultSelector, ResultPath and OutputPath, in the
// order of the Amazon States Language. A ResultPath other than "$" needs
// the state's input after the call: it is kept in the request's Context
// meanwhile.
func (b *builder) task(n *sdk.Node, s *state) {
	keep := s.discardResult || s.resultPath != nil && len(s.resultPath.segs) > 0
	ctx := b.ctx
	if keep {
		n.Modify(func(in []byte) ([]byte, error) { return in, ctx.Set(stashKey(ctx), in) })
	}
	selectPath(n, s, s.inputPath)
	shape(n, s, s.parameters)
	n.Apply(s.function)
	shape(n, s, s.resultSelector)
	if keep {
		n.Modify(func(result []byte) ([]byte, error) {
			input, err := ctx.LookupBytes(stashKey(ctx))
			if err != nil {
				return nil, err
			}
			return placeOrDiscard(s, input, result)
		})
	}
	selectPath(n, s, s.outputPath)
}

// pass runs a Pass state on its input.
func pass(s *state, in []byte) ([]byte, error) {
	data := in
	var err error
	if s.inputPath != nil {
		if data, err = s.inputPath.apply(data); err != nil {
			return nil, runtimeError(s, err)
		}
	}
	if s.parameters != nil {
		if data, err = s.parameters.apply(data); err != nil {
			return nil, runtimeError(s, err)
		}
	}
	if s.result != nil {
		data = s.result
	}
	if data, err = placeOrDiscard(s, in, data); err != nil {
		return nil, err
	}
	if s.outputPath != nil {
		if data, err = s.outputPath.apply(data); err != nil {
			return nil, runtimeError(s, err)
		}
	}
	return data, nil
}

// placeOrDiscard applies the ResultPath of s: the result replaces the
// state's input, goes inside it, or is dropped.
func placeOrDiscard(s *state, input, result []byte) ([]byte, error) {
	switch {
	case s.discardResult:
		return input, nil
	case s.resultPath == nil:
		return result, nil
	}
	out, err := placeResult(s.resultPath, input, result)
	if err != nil {
		return nil, runtimeError(s, err)
	}
	return out, nil
}

// shape adds to n an operation that builds a Parameters or ResultSelector
// template from the data.
func shape(n *sdk.Node, s *state, p *payload) {
	if p == nil {
		return
	}
	n.Modify(func(in []byte) ([]byte, error) {
		out, err := p.apply(in)
		if err != nil {
			return nil, runtimeError(s, err)
		}
		return out, nil
	})
}

// selectPath adds to n an operation that keeps what p selects of the data.
func selectPath(n *sdk.Node, s *state, p *path) {
	if p == nil || len(p.segs) == 0 {
		return
	}
	n.Modify(func(in []byte) ([]byte, error) {
		out, err := p.apply(in)
		if err != nil {
			return nil, runtimeError(s, err)
		}
		return out, nil
	})
}

func runtimeError(s *state, err error) error {
	return sdk.Permanent(&StateError{State: s.name, Name: ErrorRuntime, Cause: err.Error()})
}

// choice adds a conditional node with one branch per rule (keys "0", "1"…)
// and one for Default. An operation of the node evaluates the rules first,
// so that an input no rule matches (without Default) or one the rules
// cannot read fails the node, as the Amazon States Language says.
func (b *builder) choice(dag *sdk.Dag, st *step) {
	s := st.st
	keys := make([]string, 0, len(st.branches))
	for i := range s.choices {
		keys = append(keys, strconv.Itoa(i))
	}
	if s.def != "" {
		keys = append(keys, "Default")
	}
	pick := func(in []byte) (string, error) {
		doc, err := decodeJSON(in)
		if err != nil {
			return "", runtimeError(s, err)
		}
		for i, c := range s.choices {
			ok, err := c.rule.eval(doc)
			if err != nil {
				return "", runtimeError(s, fmt.Errorf("Choices[%d]: %w", i, err))
			}
			if ok {
				return keys[i], nil
			}
		}
		if s.def != "" {
			return "Default", nil
		}
		return "", sdk.Permanent(&StateError{State: s.name, Name: ErrorNoChoiceMatched, Cause: "no rule matched and there is no Default"})
	}
	branches := dag.ConditionalBranch(s.name, keys, func(in []byte) []string {
		k, err := pick(in)
		if err != nil {
			return nil // cannot happen: the node's operation failed first
		}
		return []string{k}
	}, sdk.Aggregator(func(results map[string][]byte) ([]byte, error) {
		for _, v := range results {
			return v, nil
		}
		return nil, nil
	}))
	n := dag.Node(s.name)
	selectPath(n, s, s.inputPath)
	n.Modify(func(in []byte) ([]byte, error) {
		_, err := pick(in)
		return in, err
	})
	for i, k := range keys {
		b.chain(branches[k], st.branches[i])
	}
}

// parallel adds a conditional node that selects all its branches (keys
// "0", "1"…), whose aggregator joins their results into a JSON array in
// the order of Branches.
func (b *builder) parallel(dag *sdk.Dag, s *state) {
	keys := make([]string, len(s.branches))
	for i := range s.branches {
		keys[i] = strconv.Itoa(i)
	}
	branches := dag.ConditionalBranch(s.name, keys, func([]byte) []string { return keys },
		sdk.Aggregator(func(results map[string][]byte) ([]byte, error) {
			out := make([]json.RawMessage, len(keys))
			for i, k := range keys {
				out[i] = asJSON(results[k])
			}
			return b.output(s, out)
		}))
	selectPath(dag.Node(s.name), s, s.inputPath)
	for i, k := range keys {
		b.chain(branches[k], s.branches[i].plan)
	}
}

// output marshals the array a Parallel or Map state produces and applies
// the state's OutputPath.
func (b *builder) output(s *state, items []json.RawMessage) ([]byte, error) {
	out, err := json.Marshal(items)
	if err != nil || s.outputPath == nil {
		return out, err
	}
	if out, err = s.outputPath.apply(out); err != nil {
		return nil, runtimeError(s, err)
	}
	return out, nil
}

// mapState adds a foreach node: an operation selects the items (ItemsPath,
// which must hold an array), each item runs the item processor as one
// branch keyed by its zero-padded index, and the aggregator joins the
// results into an array in item order, null for an item that failed
// within the tolerated failures.
func (b *builder) mapState(dag *sdk.Dag, s *state) {
	opts := []sdk.BranchOption{
		sdk.Aggregator(func(results map[string][]byte) ([]byte, error) { return b.mapResults(s, results) }),
		sdk.MaxConcurrency(s.maxConcurrency),
	}
	if s.tolCount > 0 {
		opts = append(opts, sdk.ToleratedFailures(s.tolCount))
	}
	if s.tolPct > 0 {
		opts = append(opts, sdk.ToleratedFailurePercent(s.tolPct))
	}
	sub := dag.ForEachBranch(s.name, splitItems, opts...)
	n := dag.Node(s.name)
	selectPath(n, s, s.inputPath)
	items := s.itemsPath
	n.Modify(func(in []byte) ([]byte, error) {
		out, err := items.apply(in)
		if err != nil {
			return nil, runtimeError(s, err)
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(out, &arr); err != nil {
			return nil, runtimeError(s, fmt.Errorf("ItemsPath %s does not select an array", items.text))
		}
		return out, nil
	})
	b.chain(sub, s.iterator.plan)
}

// splitItems splits a JSON array into branch inputs keyed by index,
// zero-padded so that keys sort in item order.
func splitItems(in []byte) map[string][]byte {
	var arr []json.RawMessage
	if json.Unmarshal(in, &arr) != nil {
		return nil
	}
	width := len(strconv.Itoa(max(len(arr)-1, 0)))
	out := make(map[string][]byte, len(arr))
	for i, it := range arr {
		out[fmt.Sprintf("%0*d", width, i)] = it
	}
	return out
}

// mapResults joins the results of a Map's items into an array.
func (b *builder) mapResults(s *state, results map[string][]byte) ([]byte, error) {
	byIndex := map[int][]byte{}
	size := 0
	for k, v := range results {
		i, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("map %s: unexpected branch key %q", s.name, k)
		}
		byIndex[i], size = v, max(size, i+1)
	}
	if b.ctx != nil {
		for _, f := range b.ctx.Faults() {
			if i, err := strconv.Atoi(f.Key); err == nil {
				size = max(size, i+1)
			}
		}
	}
	out := make([]json.RawMessage, size)
	for i := range out {
		if v, ok := byIndex[i]; ok {
			out[i] = asJSON(v)
		} else {
			out[i] = json.RawMessage("null")
		}
	}
	return b.output(s, out)
}
