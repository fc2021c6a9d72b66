// Package loopback is an in-process hop transport: a queue in memory whose
// workers hand each hop straight back to the engine. Package flowtest runs
// flows on it, and its Chaos settings inject the faults of a real queue
// (duplicated, reordered and delayed hops) from a seed.
package loopback
