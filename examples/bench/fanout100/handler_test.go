package function

import (
	"context"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestFanOutRunsEveryBranchOnce(t *testing.T) {
	h, err := flowtest.New(Define, flowtest.WithFunction("echo", func(in []byte) ([]byte, error) { return in, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("ping"))
	if err != nil || res.State != "succeeded" || string(res.Output) != "100 branches" || h.Calls("echo") != Branches {
		t.Fatalf("%+v %v calls=%d", res, err, h.Calls("echo"))
	}
}
