// Package bench is the end-to-end benchmark of `faasflow bench`: on a
// running stack it measures the async 10-node chain and the 100-branch
// fan-out against the same worker function called directly, interleaving
// the two so that both see the same machine noise, and reports per-hop
// overhead percentiles and node executions per second.
package bench
