package function

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestParallelBranchesAreAggregatedIntoJSON(t *testing.T) {
	h, err := flowtest.New(Define,
		flowtest.WithFunction("upper", func(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil }),
		flowtest.WithFunction("reverse", func(in []byte) ([]byte, error) {
			out := make([]byte, len(in))
			for i, c := range in {
				out[len(in)-1-i] = c
			}
			return out, nil
		}),
		flowtest.WithFunction("wordcount", func(in []byte) ([]byte, error) { return []byte(fmt.Sprint(len(bytes.Fields(in)))), nil }),
		flowtest.WithChaos(flowtest.Chaos{Seed: 1, Duplicate: 0.5, Reorder: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("one two three"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"count":"3","reverse":"eerht owt eno","upper":"ONE TWO THREE"}`
	if res.State != "succeeded" || string(res.Output) != want {
		t.Fatalf("%s %q %s", res.State, res.Output, res.Err)
	}
}
