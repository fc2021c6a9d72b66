package function

import (
	"context"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestGreetReturnsTheGreetingSynchronously(t *testing.T) {
	h, err := flowtest.New(Define, flowtest.WithFunction("hello", func(in []byte) ([]byte, error) {
		return []byte("Hello, " + string(in) + "!"), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("  Adam\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "succeeded" || string(res.Output) != "Hello, Adam! (via faas-flow)" {
		t.Fatalf("%s %q %s", res.State, res.Output, res.Err)
	}
}
