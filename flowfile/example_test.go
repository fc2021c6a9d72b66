package flowfile_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/flowfile"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

// The declarative example (examples/declarative/flow.yaml) runs in process
// with sdk/flowtest, as a Go flow's Define does.
func TestDeclarativeExampleAnalysesThenReversesEachResult(t *testing.T) {
	def, err := flowfile.Load(filepath.Join("..", "examples", "declarative", "flow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := flowtest.New(def.Define,
		flowtest.WithFunction("upper", upper),
		flowtest.WithFunction("reverse", reverse),
		flowtest.WithFunction("wordcount", wordcount),
		flowtest.WithChaos(flowtest.Chaos{Seed: 3, Duplicate: 0.3, Reorder: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("one two three"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `["EERHT OWT ENO","one two three",3]`; res.State != "succeeded" || string(res.Output) != want {
		t.Fatalf("%s %q %s; want %q", res.State, res.Output, res.Err, want)
	}
	res, err = h.Run(context.Background(), []byte("hi there"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "failed" || !strings.Contains(res.Err, "Text.TooShort") {
		t.Fatalf("%s %q", res.State, res.Err)
	}
}
