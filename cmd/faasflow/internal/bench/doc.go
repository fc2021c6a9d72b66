// Package bench is the end-to-end benchmark of `faasflow bench`: on a
// running stack it measures the async 10-node chain and the 100-branch
// fan-out against the same worker function called directly, interleaving
// the two so that both see the same machine noise, and the same shapes
// with in-process nodes, which cost only the orchestration. It reports
// per-hop overhead percentiles, node executions per second with one
// request at a time and with many in flight, and the whole stack's CPU per
// node execution. ParseMarkdown, Compare and RenderComparison set the
// reports of two builds side by side (`faasflow bench --compare`).
package bench
