package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/testflow"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// span is the part of a finished span the shape assertions look at; both the
// in-memory exporter's stubs and Jaeger's JSON are converted to it.
type span struct {
	TraceID, SpanID, Parent string
	Name                    string
	Attrs                   map[string]string
	Error                   bool
	Events                  []string
	Links                   []string // span ids
}

func (s span) isNode() bool {
	return s.Attrs["faasflow.node"] != "" && s.Attrs["faasflow.operation"] == ""
}
func (s span) isOp() bool  { return s.Attrs["faasflow.operation"] != "" }
func (s span) isHop() bool { return s.Attrs["faasflow.hop_id"] != "" }

// branchingFlow: a parallel split and join, a foreach, a node that fails once
// and is retried, and a last node that fails; the flow's OnFailure handles
// the failure.
//
//	start ─┬─ left (Apply "worker") ──┬─ join ── bad (fails)
//	       ├─ right (retried once) ───┤
//	       └─ each (foreach: up) ─────┘
func branchingFlow(rightCalls *atomic.Int32) func(*faasflow.Workflow, *faasflow.Context) error {
	return func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("start").Modify(func(in []byte) ([]byte, error) { return in, nil })
		d.Node("left").Apply("worker")
		d.Node("right", faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Millisecond})).
			Modify(func(in []byte) ([]byte, error) {
				if rightCalls.Add(1) == 1 {
					return nil, errors.New("transient glitch")
				}
				return append([]byte("r:"), in...), nil
			})
		each := d.ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(testflow.JoinSorted))
		each.Node("up").Modify(func(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil })
		d.Node("join", faasflow.Aggregator(testflow.JoinSorted)).Modify(func(in []byte) ([]byte, error) { return in, nil })
		d.Node("bad").Modify(func([]byte) ([]byte, error) { return nil, errors.New("boom: bad input") })
		d.Edge("start", "left")
		d.Edge("start", "right")
		d.Edge("start", "each")
		d.Edge("left", "join")
		d.Edge("right", "join")
		d.Edge("each", "join")
		d.Edge("join", "bad")
		flow.OnFailure(func(err error) ([]byte, error) { return []byte("handled: " + err.Error()), nil })
		return nil
	}
}

func worker(in []byte) ([]byte, error) { return append([]byte("w:"), in...), nil }

// assertBranchingTrace checks the trace of one run of branchingFlow with
// input "a,b": one trace, one root span named flow with the request id, every
// span a descendant of it, node spans children of the root, operation spans
// children of node spans, hop links resolving to hop spans, the retry as an
// event, the failing node and the request marked as errors.
func assertBranchingTrace(t *testing.T, spans []span, flow, reqID string) {
	t.Helper()
	if len(spans) == 0 {
		t.Fatal("no spans recorded")
	}
	byID := map[string]span{}
	traces := map[string]bool{}
	var roots []span
	for _, s := range spans {
		if _, dup := byID[s.SpanID]; dup {
			t.Errorf("span id %s appears twice (%s)", s.SpanID, s.Name)
		}
		byID[s.SpanID] = s
		traces[s.TraceID] = true
		if s.Parent == "" {
			roots = append(roots, s)
		}
	}
	if len(traces) != 1 {
		t.Fatalf("spans of one request are in %d traces, want 1", len(traces))
	}
	if len(roots) != 1 {
		names := []string{}
		for _, r := range roots {
			names = append(names, r.Name)
		}
		t.Fatalf("%d root spans %v, want exactly 1", len(roots), names)
	}
	root := roots[0]
	if root.Name != flow || root.Attrs["faasflow.request_id"] != reqID {
		t.Errorf("root span %q request_id %q, want %q and %q", root.Name, root.Attrs["faasflow.request_id"], flow, reqID)
	}
	if !root.Error || root.Attrs["faasflow.state"] != "failed" {
		t.Errorf("root span error=%v state=%q, want an error span in state failed", root.Error, root.Attrs["faasflow.state"])
	}
	for _, s := range spans {
		// Walk up to the root: every span must be its descendant.
		cur, depth := s, 0
		for cur.Parent != "" {
			p, ok := byID[cur.Parent]
			if !ok {
				t.Fatalf("span %q has parent %s that is not in the trace", cur.Name, cur.Parent)
			}
			cur, depth = p, depth+1
			if depth > 10 {
				t.Fatalf("span %q: parent chain too deep (cycle?)", s.Name)
			}
		}
		if cur.SpanID != root.SpanID {
			t.Fatalf("span %q is not a descendant of the root", s.Name)
		}
		switch {
		case s.isNode():
			if s.Parent != root.SpanID {
				t.Errorf("node span %q is a child of %q, want the root", s.Name, byID[s.Parent].Name)
			}
			if s.Attrs["faasflow.request_id"] != reqID || s.Attrs["faasflow.attempt"] == "" {
				t.Errorf("node span %q lacks request id or attempt: %v", s.Name, s.Attrs)
			}
			for _, l := range s.Links {
				if h, ok := byID[l]; !ok || !h.isHop() {
					t.Errorf("node span %q links to %s, which is not a hop span of the trace", s.Name, l)
				}
			}
		case s.isOp():
			if p := byID[s.Parent]; !p.isNode() {
				t.Errorf("operation span %q is a child of %q, want a node span", s.Name, p.Name)
			}
		case s.isHop():
			if p := byID[s.Parent]; !p.isNode() && p.SpanID != root.SpanID {
				t.Errorf("hop span %q is a child of %q, want a node span", s.Name, p.Name)
			}
		case s.SpanID != root.SpanID:
			t.Errorf("unexpected span %q %v", s.Name, s.Attrs)
		}
	}

	nodes := map[string][]span{}
	for _, s := range spans {
		if s.isNode() {
			nodes[s.Attrs["faasflow.node"]] = append(nodes[s.Attrs["faasflow.node"]], s)
		}
	}
	for _, n := range []string{"start", "left", "each", "each[a]/up", "each[b]/up", "join", "bad"} {
		if len(nodes[n]) != 1 {
			t.Errorf("node %s has %d spans, want 1 (nodes: %v)", n, len(nodes[n]), keys(nodes))
		}
	}
	if b := nodes["bad"]; len(b) == 1 && !b[0].Error {
		t.Errorf("failing node span is not marked as an error")
	}
	for _, n := range []string{"start", "left", "join"} {
		if s := nodes[n]; len(s) == 1 && s[0].Error {
			t.Errorf("node %s is marked as an error", n)
		}
	}
	right := nodes["right"]
	sort.Slice(right, func(i, j int) bool { return right[i].Attrs["faasflow.attempt"] < right[j].Attrs["faasflow.attempt"] })
	if len(right) != 2 || right[0].Attrs["faasflow.attempt"] != "1" || right[1].Attrs["faasflow.attempt"] != "2" {
		t.Fatalf("retried node has spans %v, want attempts 1 and 2", right)
	}
	if !right[0].Error || right[1].Error {
		t.Errorf("attempt 1 error=%v attempt 2 error=%v, want true/false", right[0].Error, right[1].Error)
	}
	// The retry is an event of the attempt that failed and is retried.
	if !contains(right[0].Events, "faasflow.retry") || contains(right[1].Events, "faasflow.retry") {
		t.Errorf("attempt events %v / %v, want the faasflow.retry event on attempt 1 only", right[0].Events, right[1].Events)
	}
	if up := nodes["each[a]/up"]; len(up) == 1 && up[0].Attrs["faasflow.branch_key"] != "a" {
		t.Errorf("foreach branch span has branch key %q", up[0].Attrs["faasflow.branch_key"])
	}
	if j := nodes["join"]; len(j) == 1 && len(j[0].Links) == 0 {
		t.Errorf("join node span has no link to the hop that started it")
	}
	var worker span
	for _, s := range spans {
		if s.isOp() && s.Attrs["faasflow.node"] == "left" {
			worker = s
		}
	}
	if worker.Name != "worker" {
		t.Errorf("no operation span for Apply(worker) under node left")
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
