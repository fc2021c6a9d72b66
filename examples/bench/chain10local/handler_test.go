package function

import (
	"context"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestInProcessChainPassesItsInputThroughEveryNode(t *testing.T) {
	h, err := flowtest.New(Define)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("ping"))
	if err != nil || res.State != "succeeded" || string(res.Output) != "ping" {
		t.Fatalf("%+v %v", res, err)
	}
}
