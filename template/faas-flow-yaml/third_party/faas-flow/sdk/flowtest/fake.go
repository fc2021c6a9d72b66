package flowtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/engine"
)

// Function is a fake OpenFaaS function for Apply operations.
type Function func(input []byte) ([]byte, error)

type fakeInvoker struct {
	mu        sync.Mutex
	functions map[string]Function
	counts    map[string]int
}

func (f *fakeInvoker) Invoke(ctx context.Context, call *engine.Call) ([]byte, error) {
	f.mu.Lock()
	fn, ok := f.functions[call.Target]
	f.counts[call.Target]++
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("flowtest: no fake function %q (register it with flowtest.WithFunction)", call.Target)
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := fn(call.Data)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Sleep is a Function helper that waits d then echoes its input.
func Sleep(d time.Duration) Function {
	return func(in []byte) ([]byte, error) { time.Sleep(d); return in, nil }
}
