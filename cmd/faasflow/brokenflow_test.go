package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/gateway/gatewaytest"
)

// A flow of two nodes, the template's handler otherwise; each case breaks
// it in one way.
const brokenBase = `package function

import faasflow "github.com/faas-flow/faas-flow/sdk"

// Define builds one -> two.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("one").Modify(func(d []byte) ([]byte, error) { return d, nil })
	dag.Node("two").Modify(func(d []byte) ([]byte, error) { return d, nil })
	dag.Edge("one", "two")
	return nil
}
`

// TestDeployOfABrokenFlowFailsWithItsOwnError: a flow that cannot work
// fails `faasflow deploy` (exit 1) with the reason, whether the build finds
// it (the Dockerfile's gofmt check and the handler's tests, which run
// Define) or the function only finds it when it starts (a setting it cannot
// read): a deploy that succeeds is a function that answers.
func TestDeployOfABrokenFlowFailsWithItsOwnError(t *testing.T) {
	repo, err := gatewaytest.Repo()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		handler string
		env     string
		want    string // in deploy's output
	}{
		{"Define returns an error", strings.Replace(brokenBase, "return nil\n}", `return fmt.Errorf("no flow today")
}`, 1), "", "no flow today"},
		{"an edge to a node never defined", strings.Replace(brokenBase, `dag.Edge("one", "two")`, `dag.Edge("one", "three")`, 1), "", "never defined"},
		{"not gofmt'd", strings.Replace(brokenBase, "dag := flow.Dag()", "dag :=   flow.Dag()", 1), "", "gofmt"},
		{"a setting it cannot read at start", brokenBase, "    environment:\n      node_lease: banana\n", "node_lease"},
	}
	l, err := gateway.StartLocal(context.Background(), gateway.LocalOptions{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			handler := filepath.Join(dir, "flow")
			copyDir(t, filepath.Join(repo, "template", "faas-flow", "function"), handler)
			src := tt.handler
			if strings.Contains(src, "fmt.Errorf") {
				src = strings.Replace(src, `import faasflow "github.com/faas-flow/faas-flow/sdk"`, "import (\n\t\"fmt\"\n\n\tfaasflow \"github.com/faas-flow/faas-flow/sdk\"\n)", 1)
			}
			writeFile(t, filepath.Join(handler, "handler.go"), src)
			name := fmt.Sprintf("broken-%d", i)
			stack := filepath.Join(dir, "stack.yml")
			writeFile(t, stack, fmt.Sprintf("version: 1.0\nprovider:\n  name: openfaas\n  gateway: %s\nfunctions:\n  %s:\n    lang: faas-flow\n    handler: %s\n    image: %s:latest\n%s",
				l.URL(), name, handler, name, tt.env))
			r := cli(t, "", "deploy", "-f", stack, "--state-dir", l.StateDir())
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("deploy = %d, want 1 with %q in:\n%s", r.code, tt.want, r.stderr)
			}
		})
	}
	if _, err := os.Stat(l.StateDir()); err != nil {
		t.Fatal(err)
	}
}
