// Package dagexport renders a validated flow definition (sdk.Workflow) as
// faas-flow's export-dag JSON, as Graphviz DOT and as a Mermaid flowchart.
package dagexport
