package function

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestFailureExampleRetriesThenHandlesFailure(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	flaky := func(in []byte) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls%3 != 0 {
			return nil, errors.New("503 flaky: try again")
		}
		return in, nil
	}
	h, err := flowtest.New(Define, flowtest.WithFunction("flaky", flaky))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ok, err := h.Run(context.Background(), []byte("order 42"))
	if err != nil {
		t.Fatal(err)
	}
	if ok.State != "succeeded" || string(ok.Output) != "accepted: order 42" || ok.Record.Nodes["flaky"].Attempts != 3 {
		t.Fatalf("%s %q %s %+v", ok.State, ok.Output, ok.Err, ok.Record.Nodes)
	}
	bad, err := h.Run(context.Background(), []byte("please fail"))
	if err != nil {
		t.Fatal(err)
	}
	if bad.State != "failed" || !strings.HasPrefix(string(bad.Output), "rejected, compensation done: node validate failed") {
		t.Fatalf("%s %q %s", bad.State, bad.Output, bad.Err)
	}
}
