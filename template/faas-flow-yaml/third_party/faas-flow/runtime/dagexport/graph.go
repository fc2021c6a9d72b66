package dagexport

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/faas-flow/faas-flow/sdk"
)

// The DOT and Mermaid renderings share one graph model: a vertex per node,
// a cluster per sub-DAG or branch, and for each composite node (sub-DAG,
// conditional, foreach) an end point where its branches meet before the
// node's own edges leave.

type vertex struct {
	id, label string
	point     bool
}

type cluster struct {
	id, label string
	vertices  []vertex
	clusters  []*cluster
}

type edge struct {
	from, to, label string
	dashed          bool // execution-only edge
	dotted          bool // into or out of a branch
}

type graph struct {
	root  cluster
	edges []edge
}

func build(wf *sdk.Workflow) *graph {
	g := &graph{}
	g.walk(wf.Dag(), &g.root)
	return g
}

// walk adds d's nodes to cl and returns nothing; exits maps each node to
// the vertex its outgoing edges leave from.
func (g *graph) walk(d *sdk.Dag, cl *cluster) {
	exits := map[*sdk.Node]string{}
	for _, n := range d.Nodes() {
		cl.vertices = append(cl.vertices, vertex{id: n.ID(), label: label(n)})
		exits[n] = n.ID()
		var subs []*sdk.Dag
		var keys []string
		switch n.Kind() {
		case sdk.KindSubDag, sdk.KindForEach:
			subs, keys = []*sdk.Dag{n.SubDag()}, []string{""}
		case sdk.KindConditional:
			for _, k := range n.Conditions() {
				subs, keys = append(subs, n.Branch(k)), append(keys, k)
			}
		}
		if len(subs) == 0 {
			continue
		}
		end := n.ID() + "/[end]"
		for i, sub := range subs {
			title := n.Name() + " (" + n.Kind().String() + ")"
			if keys[i] != "" {
				title = n.Name() + " [" + keys[i] + "]"
			}
			c := &cluster{id: sub.ID(), label: title}
			cl.clusters = append(cl.clusters, c)
			g.walk(sub, c)
			if s := sub.Start(); s != nil {
				g.edges = append(g.edges, edge{from: n.ID(), to: s.ID(), label: keys[i], dotted: true, dashed: !n.BranchDataForwarded()})
			}
			for _, e := range sub.Ends() {
				g.edges = append(g.edges, edge{from: exitOf(e), to: end, dotted: true, dashed: !n.BranchDataForwarded()})
			}
		}
		cl.vertices = append(cl.vertices, vertex{id: end, point: true})
		exits[n] = end
	}
	for _, n := range d.Nodes() {
		for _, c := range n.Children() {
			_, data := n.EdgeOptions(c)
			g.edges = append(g.edges, edge{from: exits[n], to: c.ID(), dashed: !data})
		}
	}
}

// exitOf is the vertex a node's outgoing edges leave from.
func exitOf(n *sdk.Node) string {
	if n.Kind() != sdk.KindPlain {
		return n.ID() + "/[end]"
	}
	return n.ID()
}

// label is the node's name, its kind and its operations, one per line.
func label(n *sdk.Node) string {
	lines := []string{n.Name()}
	if n.Kind() != sdk.KindPlain {
		lines[0] += " (" + n.Kind().String() + ")"
	}
	if n.Aggregator() != nil {
		lines = append(lines, "aggregator")
	}
	for _, op := range n.Operations() {
		switch op.Kind {
		case sdk.OpModify:
			lines = append(lines, "modify")
		case sdk.OpFunction:
			lines = append(lines, "apply "+op.Target)
		case sdk.OpRequest:
			lines = append(lines, "request "+shortURL(op.Target))
		case sdk.OpCallback:
			lines = append(lines, "callback "+shortURL(op.Target))
		default:
			lines = append(lines, op.ID())
		}
	}
	return strings.Join(lines, "\n")
}

func shortURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return u
}

// DOT renders wf as a Graphviz digraph named after the flow.
func DOT(wf *sdk.Workflow, flow string) []byte {
	g := build(wf)
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(flow))
	b.WriteString("  rankdir=TB;\n  compound=true;\n  node [shape=box, style=rounded];\n")
	var writeCluster func(c *cluster, indent string)
	writeCluster = func(c *cluster, indent string) {
		for _, v := range c.vertices {
			if v.point {
				fmt.Fprintf(&b, "%s%s [shape=point, label=\"\"];\n", indent, dotQuote(v.id))
				continue
			}
			fmt.Fprintf(&b, "%s%s [label=%s];\n", indent, dotQuote(v.id), dotQuote(v.label))
		}
		for _, sc := range c.clusters {
			fmt.Fprintf(&b, "%ssubgraph %s {\n", indent, dotQuote("cluster_"+sc.id))
			fmt.Fprintf(&b, "%s  label=%s;\n%s  style=dashed;\n", indent, dotQuote(sc.label), indent)
			writeCluster(sc, indent+"  ")
			fmt.Fprintf(&b, "%s}\n", indent)
		}
	}
	writeCluster(&g.root, "  ")
	for _, e := range g.edges {
		var attrs []string
		switch {
		case e.dashed:
			attrs = append(attrs, "style=dashed")
		case e.dotted:
			attrs = append(attrs, "style=dotted")
		}
		if e.label != "" {
			attrs = append(attrs, "label="+dotQuote(e.label))
		}
		a := ""
		if len(attrs) > 0 {
			a = " [" + strings.Join(attrs, ", ") + "]"
		}
		fmt.Fprintf(&b, "  %s -> %s%s;\n", dotQuote(e.from), dotQuote(e.to), a)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// dotQuote returns s as a DOT quoted string.
func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Mermaid renders wf as a Mermaid flowchart. Vertices get synthetic ids
// (n1, n2...) so that node names need no escaping beyond their labels.
func Mermaid(wf *sdk.Workflow) []byte {
	g := build(wf)
	ids := map[string]string{}
	id := func(v string) string {
		if s, ok := ids[v]; ok {
			return s
		}
		s := "n" + strconv.Itoa(len(ids)+1)
		ids[v] = s
		return s
	}
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	sub := 0
	var writeCluster func(c *cluster, indent string)
	writeCluster = func(c *cluster, indent string) {
		for _, v := range c.vertices {
			if v.point {
				fmt.Fprintf(&b, "%s%s(( ))\n", indent, id(v.id))
				continue
			}
			fmt.Fprintf(&b, "%s%s[\"%s\"]\n", indent, id(v.id), mermaidText(v.label))
		}
		for _, sc := range c.clusters {
			sub++
			fmt.Fprintf(&b, "%ssubgraph s%d[\"%s\"]\n", indent, sub, mermaidText(sc.label))
			writeCluster(sc, indent+"  ")
			fmt.Fprintf(&b, "%send\n", indent)
		}
	}
	writeCluster(&g.root, "  ")
	for _, e := range g.edges {
		arrow := "-->"
		if e.dashed || e.dotted {
			arrow = "-.->"
		}
		if e.label != "" {
			if arrow == "-->" {
				arrow = "-->|\"" + mermaidText(e.label) + "\"|"
			} else {
				arrow = "-.->|\"" + mermaidText(e.label) + "\"|"
			}
		}
		fmt.Fprintf(&b, "  %s %s %s\n", id(e.from), arrow, id(e.to))
	}
	return []byte(b.String())
}

// mermaidText escapes a label for a quoted Mermaid string: quotes and
// markup-significant characters become entity codes, new lines <br/>.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString("#quot;")
		case '#':
			b.WriteString("#35;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '|':
			b.WriteString("#124;")
		case '`':
			b.WriteString("#96;")
		case '\n':
			b.WriteString("<br/>")
		case '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
