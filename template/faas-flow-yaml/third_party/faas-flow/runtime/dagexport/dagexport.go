package dagexport

import (
	"encoding/json"
	"strconv"

	"github.com/faas-flow/faas-flow/sdk"
)

// DagExporter is faas-flow's JSON description of a DAG (the answer of
// ?export-dag=true), with the same field names. EndNodes is an addition: a
// DAG here may have several end nodes (EndNode holds the first).
type DagExporter struct {
	ID               string                   `json:"id"`
	StartNode        string                   `json:"start-node"`
	EndNode          string                   `json:"end-node"`
	EndNodes         []string                 `json:"end-nodes,omitempty"`
	HasBranch        bool                     `json:"has-branch"`
	HasEdge          bool                     `json:"has-edge"`
	ExecutionOnlyDag bool                     `json:"exec-only-dag"`
	Nodes            map[string]*NodeExporter `json:"nodes"`
	IsValid          bool                     `json:"is-valid"`
	ValidationError  string                   `json:"validation-error,omitempty"`
}

// NodeExporter is faas-flow's JSON description of a node. Kind, Retry,
// Timeout and MaxConcurrency are additions.
type NodeExporter struct {
	ID               string                  `json:"id"`
	Index            int                     `json:"node-index"`
	UniqueID         string                  `json:"unique-id"`
	IsDynamic        bool                    `json:"is-dynamic"`
	IsCondition      bool                    `json:"is-condition"`
	IsForeach        bool                    `json:"is-foreach"`
	HasAggregator    bool                    `json:"has-aggregator"`
	HasSubAggregator bool                    `json:"has-sub-aggregator"`
	HasSubDag        bool                    `json:"has-subdag"`
	InDegree         int                     `json:"in-degree"`
	OutDegree        int                     `json:"out-degree"`
	SubDag           *DagExporter            `json:"sub-dag,omitempty"`
	ForeachDag       *DagExporter            `json:"foreach-dag,omitempty"`
	ConditionalDags  map[string]*DagExporter `json:"conditional-dags,omitempty"`
	DynamicExecOnly  bool                    `json:"dynamic-exec-only"`
	Operations       []*OperationExporter    `json:"operations"`
	Children         []string                `json:"childrens"`
	ChildExecOnly    map[string]bool         `json:"child-exec-only"`

	Kind           string `json:"kind"`
	MaxAttempts    int    `json:"max-attempts,omitempty"`
	Timeout        string `json:"timeout,omitempty"`
	MaxConcurrency int    `json:"max-concurrency,omitempty"`
}

// OperationExporter describes one operation of a node.
type OperationExporter struct {
	Name       string              `json:"name"`
	Properties map[string][]string `json:"properties"`
}

// Export describes wf, which must have passed Validate. validationErr, when
// not nil, is reported in is-valid and validation-error.
func Export(wf *sdk.Workflow, validationErr error) *DagExporter {
	d := exportDag(wf.Dag(), "0")
	if validationErr != nil {
		d.IsValid, d.ValidationError = false, validationErr.Error()
	}
	return d
}

// JSON returns the indented export-dag JSON of wf.
func JSON(wf *sdk.Workflow) ([]byte, error) {
	return json.MarshalIndent(Export(wf, nil), "", "  ")
}

func exportDag(d *sdk.Dag, id string) *DagExporter {
	if d.ID() != "" {
		id = d.ID()
	}
	out := &DagExporter{ID: id, Nodes: map[string]*NodeExporter{}, IsValid: true}
	if s := d.Start(); s != nil {
		out.StartNode = s.Name()
	}
	for _, e := range d.Ends() {
		out.EndNodes = append(out.EndNodes, e.Name())
	}
	if len(out.EndNodes) > 0 {
		out.EndNode = out.EndNodes[0]
	}
	if len(out.EndNodes) < 2 {
		out.EndNodes = nil
	}
	execOnly := true
	for i, n := range d.Nodes() {
		ne := exportNode(n, i+1)
		out.Nodes[n.Name()] = ne
		if n.IsDynamic() {
			out.HasBranch = true
		}
		for _, c := range n.Children() {
			out.HasEdge = true
			if _, data := n.EdgeOptions(c); data {
				execOnly = false
			}
		}
	}
	out.ExecutionOnlyDag = out.HasEdge && execOnly
	return out
}

func exportNode(n *sdk.Node, index int) *NodeExporter {
	ne := &NodeExporter{
		ID: n.Name(), Index: index, UniqueID: n.ID(),
		IsDynamic: n.IsDynamic(), IsCondition: n.Kind() == sdk.KindConditional, IsForeach: n.Kind() == sdk.KindForEach,
		HasAggregator: n.Aggregator() != nil, HasSubAggregator: n.SubAggregator() != nil,
		HasSubDag: n.Kind() == sdk.KindSubDag, InDegree: n.InDegree(), OutDegree: len(n.Children()),
		DynamicExecOnly: n.IsDynamic() && !n.BranchDataForwarded(),
		Operations:      []*OperationExporter{}, Children: []string{}, ChildExecOnly: map[string]bool{},
		Kind: n.Kind().String(), MaxConcurrency: n.MaxConcurrency(),
	}
	if p := n.RetryPolicy(); p != nil {
		ne.MaxAttempts = p.MaxAttempts
	}
	if t := n.Timeout(); t > 0 {
		ne.Timeout = t.String()
	}
	for _, op := range n.Operations() {
		ne.Operations = append(ne.Operations, &OperationExporter{Name: op.ID(), Properties: properties(op)})
	}
	for _, c := range n.Children() {
		ne.Children = append(ne.Children, c.Name())
		_, data := n.EdgeOptions(c)
		ne.ChildExecOnly[c.Name()] = !data
	}
	switch n.Kind() {
	case sdk.KindSubDag:
		ne.SubDag = exportDag(n.SubDag(), "")
	case sdk.KindForEach:
		ne.ForeachDag = exportDag(n.SubDag(), "")
	case sdk.KindConditional:
		ne.ConditionalDags = map[string]*DagExporter{}
		for _, k := range n.Conditions() {
			ne.ConditionalDags[k] = exportDag(n.Branch(k), "")
		}
	}
	return ne
}

// properties returns faas-flow's operation flags (custom operations report
// their own GetProperties).
func properties(op *sdk.Op) map[string][]string {
	if op.Kind == sdk.OpCustom && op.Custom != nil {
		if p := op.Custom.GetProperties(); p != nil {
			return p
		}
		return map[string][]string{}
	}
	flag := func(b bool) []string { return []string{strconv.FormatBool(b)} }
	return map[string][]string{
		"isMod":              flag(op.Kind == sdk.OpModify),
		"isFunction":         flag(op.Kind == sdk.OpFunction),
		"isHttpRequest":      flag(op.Kind == sdk.OpRequest),
		"isCallback":         flag(op.Kind == sdk.OpCallback),
		"hasFailureHandler":  flag(op.Options.FailureHandler != nil),
		"hasResponseHandler": flag(op.Options.ResponseHandler != nil),
	}
}
