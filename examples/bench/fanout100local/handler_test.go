package function

import (
	"context"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestInProcessFanOutJoinsEveryBranch(t *testing.T) {
	h, err := flowtest.New(Define)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("ping"))
	if err != nil || res.State != "succeeded" || string(res.Output) != "100 branches" {
		t.Fatalf("%+v %v", res, err)
	}
}
