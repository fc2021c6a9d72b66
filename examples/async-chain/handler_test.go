package function

import (
	"bytes"
	"context"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestAsyncChainRunsEachNodeInTurn(t *testing.T) {
	h, err := flowtest.New(Define,
		flowtest.WithFunction("upper", func(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil }),
		flowtest.WithFunction("reverse", func(in []byte) ([]byte, error) {
			out := make([]byte, len(in))
			for i, c := range in {
				out[len(in)-1-i] = c
			}
			return out, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "succeeded" || string(res.Output) != "mirrored: DLROW OLLEH" {
		t.Fatalf("%s %q %s", res.State, res.Output, res.Err)
	}
}
