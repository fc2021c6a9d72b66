package flowfile

import (
	"errors"
	"fmt"
)

// errTooLarge reports a file whose Choice branches expand past maxNodes.
var errTooLarge = errors.New("the flow expands to too many nodes")

// postDom is the set of states every path from a state passes through
// before the machine ends; all is the set of every state, the postDom of a
// state from which every path fails (a Fail state).
type postDom struct {
	all bool
	set map[string]bool
}

func (p postDom) has(name string) bool { return p.all || p.set[name] }

// planner turns an acyclic machine into chains of nodes. A Choice state
// becomes a conditional node whose branches hold the states from each
// choice up to the Choice's join: the nearest state every path from it
// that does not fail goes through. The join and what follows come after
// the conditional node.
type planner struct {
	m     *machine
	pd    map[string]postDom
	nodes int
}

// postDominators returns the postDom of the state called name.
func (p *planner) postDominators(name string) postDom {
	if pd, ok := p.pd[name]; ok {
		return pd
	}
	s := p.m.states[name]
	var pd postDom
	names, _ := s.successors()
	switch {
	case s.typ == typeFail:
		pd = postDom{all: true}
	case len(names) == 0:
		pd = postDom{set: map[string]bool{}}
	default:
		pd = postDom{all: true}
		for _, n := range names {
			pd = intersect(pd, p.postDominators(n))
		}
	}
	if !pd.all {
		set := make(map[string]bool, len(pd.set)+1)
		for k := range pd.set {
			set[k] = true
		}
		set[name] = true
		pd.set = set
	}
	p.pd[name] = pd
	return pd
}

func intersect(a, b postDom) postDom {
	switch {
	case a.all:
		return b
	case b.all:
		return a
	}
	out := postDom{set: map[string]bool{}}
	for k := range a.set {
		if b.set[k] {
			out.set[k] = true
		}
	}
	return out
}

// join returns the join of Choice state s, or "" when its branches never
// meet again.
func (p *planner) join(s *state) string {
	names, _ := s.successors()
	pd := postDom{all: true}
	for _, n := range names {
		pd = intersect(pd, p.postDominators(n))
	}
	if pd.all {
		return ""
	}
	// The post-dominators of s form a chain; the nearest one has the most
	// post-dominators itself.
	best, size := "", -1
	for n := range pd.set {
		if c := len(p.postDominators(n).set); c > size || c == size && n < best {
			best, size = n, c
		}
	}
	return best
}

// chain plans the states from the one called from up to stop (excluded;
// "" runs to the end).
func (p *planner) chain(from, stop string) (chain, error) {
	var out chain
	for cur := from; cur != "" && cur != stop; {
		if p.nodes++; p.nodes > maxNodes {
			return nil, fmt.Errorf("%w (more than %d); merge the branches of its Choice states sooner", errTooLarge, maxNodes)
		}
		s := p.m.states[cur]
		st := &step{st: s}
		out = append(out, st)
		if s.typ != typeChoice {
			cur = s.next
			continue
		}
		j := p.join(s)
		if stop != "" && j != stop && !p.postDominators(j).has(stop) && j != "" {
			return nil, fmt.Errorf("state %q: internal error: its join %q is outside the enclosing branch", s.name, j)
		}
		names, _ := s.successors()
		for _, n := range names {
			b, err := p.chain(n, j)
			if err != nil {
				return nil, err
			}
			st.branches = append(st.branches, b)
		}
		cur = j
	}
	return out, nil
}
