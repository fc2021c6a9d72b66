package flowfile

import (
	"gopkg.in/yaml.v3"
)

// maxNodes bounds the nodes a file may expand to: the states after a
// Choice that its branches do not share are repeated in each branch.
const maxNodes = 2000

// step is one node of the plan: a state and, for a Choice, Parallel or Map
// state, the chains of its branches.
type step struct {
	st       *state
	branches []chain
}

// chain is a sequence of steps, each the child of the one before.
type chain []*step

// check validates the state graph of m and of the machines inside it (every
// name refers to a state, every state is reachable, no cycle) and plans
// the nodes.
func (d *decoder) check(m *machine) error {
	if err := d.graph(m); err != nil {
		return err
	}
	for _, s := range m.order {
		for _, b := range s.branches {
			if err := d.check(b); err != nil {
				return err
			}
		}
		if s.iterator != nil {
			if err := d.check(s.iterator); err != nil {
				return err
			}
		}
	}
	p := &planner{m: m, pd: map[string]postDom{}}
	plan, err := p.chain(m.startAt, "")
	if err != nil {
		return d.errAt(m.node, m.at, "%v", err)
	}
	m.plan = plan
	return nil
}

// graph checks the names, reachability and acyclicity of m's states.
func (d *decoder) graph(m *machine) error {
	if m.states[m.startAt] == nil {
		return d.errAt(m.startN, join(m.at, "StartAt"), "no state is called %q", m.startAt)
	}
	for _, s := range m.order {
		names, nodes := s.successors()
		for i, n := range names {
			if m.states[n] == nil {
				return d.errAt(nodes[i], fieldOf(s, nodes[i]), "no state is called %q", n)
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var visit func(s *state) error
	visit = func(s *state) error {
		color[s.name] = grey
		names, nodes := s.successors()
		for i, n := range names {
			switch color[n] {
			case grey:
				return d.errAt(nodes[i], fieldOf(s, nodes[i]),
					"goes back to state %q, making a cycle: a flow is a DAG, so loops are not supported", n)
			case white:
				if err := visit(m.states[n]); err != nil {
					return err
				}
			}
		}
		color[s.name] = black
		return nil
	}
	if err := visit(m.states[m.startAt]); err != nil {
		return err
	}
	for _, s := range m.order {
		if color[s.name] == white {
			return d.errAt(s.key, s.at, "unreachable: no path from StartAt leads to this state")
		}
	}
	return nil
}

// fieldOf names the field of s that node n is the value of.
func fieldOf(s *state, n *yaml.Node) string {
	if n == s.nextN {
		return join(s.at, "Next")
	}
	if n == s.defN {
		return join(s.at, "Default")
	}
	for _, c := range s.choices {
		if c.nextN == n {
			return join(c.at, "Next")
		}
	}
	return s.at
}
