package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A flow written as flow.yaml (template faas-flow-yaml) deploys on the local
// gateway like a Go flow: it gets the stack's stores and signing secret,
// its hops go through the queue, and its request state is served.
func TestDeclarativeFlowDeploysAndRunsOnTheLocalStack(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "declarative.yml"))
	r := s.do(t, http.MethodPost, "/function/declarative?wait=30s", []byte("one two three"), nil)
	if want := `["EERHT OWT ENO","one two three",3]`; r.status != http.StatusOK || string(r.body) != want {
		t.Fatalf("%d %q, want %q", r.status, r.body, want)
	}
	r = s.do(t, http.MethodPost, "/function/declarative", []byte("hi there"), nil)
	id := r.header.Get("X-Faas-Flow-Reqid")
	if r.status != http.StatusAccepted || id == "" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	st := s.waitState(t, "declarative", id, "failed", 30*time.Second)
	if msg, _ := st["error"].(string); !strings.Contains(msg, "Text.TooShort: the text has fewer than three words") {
		t.Fatalf("the failed request's state: %v", st)
	}
	nodes, _ := st["nodes"].(map[string]any)
	if ns, _ := nodes["Analyse"].(map[string]any); ns["status"] != "succeeded" {
		t.Fatalf("node Analyse: %v (all: %v)", nodes["Analyse"], nodes)
	}
}
