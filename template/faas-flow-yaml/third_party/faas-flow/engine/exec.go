package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// runNode runs the operations of node with its retry policy. It returns the
// output and the number of attempts made.
func (r *run) runNode(ctx context.Context, node *sdk.Node, cursor []Frame, input []byte) ([]byte, int, error) {
	info := NodeInfo{Flow: r.e.o.Flow, RequestID: r.reqID, Node: instanceID(cursor), NodeID: node.ID(), Kind: node.Kind().String()}
	if r.env != nil {
		info.Redelivered = r.env.Redelivered
	}
	for i := len(cursor) - 1; i >= 0; i-- {
		if cursor[i].Key != "" {
			info.BranchKey = cursor[i].Key
			break
		}
	}
	policy := node.RetryPolicy()
	for attempt := 1; ; attempt++ {
		info.Attempt = attempt
		nctx := r.e.obs.NodeStarted(ctx, info)
		out, err := r.runOps(nctx, node, info, input)
		if err == nil {
			r.e.obs.NodeEnded(nctx, info, nil)
			return out, attempt, nil
		}
		if policy == nil || attempt >= policy.MaxAttempts || !retryable(policy, err) || ctx.Err() != nil {
			r.e.obs.NodeEnded(nctx, info, err)
			return nil, attempt, err
		}
		// The retry is an event of the attempt that failed.
		delay := backoff(policy, attempt)
		r.e.obs.NodeRetry(nctx, info, err, delay)
		r.e.obs.NodeEnded(nctx, info, err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, attempt, errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

func retryable(p *sdk.RetryPolicy, err error) bool {
	if sdk.IsPermanent(err) || errors.Is(err, sdk.ErrPanic) || errors.Is(err, sdk.ErrUndeclaredCondition) {
		return false
	}
	if p.Retryable != nil {
		return p.Retryable(err)
	}
	return true
}

// backoff returns the delay before retry number attempt (1-based).
func backoff(p *sdk.RetryPolicy, attempt int) time.Duration {
	initial, coef, maxd, jitter := p.InitialInterval, p.BackoffCoefficient, p.MaxInterval, p.Jitter
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if coef < 1 {
		coef = 2
	}
	if maxd <= 0 {
		maxd = 10 * time.Second
	}
	if jitter == 0 {
		jitter = 0.2
	}
	d := float64(initial)
	for i := 1; i < attempt; i++ {
		d *= coef
		if d > float64(maxd) {
			d = float64(maxd)
			break
		}
	}
	if jitter > 0 {
		d *= 1 + jitter*(2*rand.Float64()-1)
	}
	if d > float64(maxd) {
		d = float64(maxd)
	}
	return time.Duration(d)
}

// runOps runs one attempt of the node's operations.
func (r *run) runOps(ctx context.Context, node *sdk.Node, info NodeInfo, data []byte) ([]byte, error) {
	if t := node.Timeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	r.sctx.SetNode(ctx, info.Node)
	for _, op := range node.Operations() {
		oi := OpInfo{NodeInfo: info, Operation: op.ID(), Index: op.Index()}
		octx := r.e.obs.OperationStarted(ctx, oi)
		out, err := r.runOp(octx, op, info, data)
		if err != nil && op.Options.FailureHandler != nil {
			if herr := callFailureHandlerOp(op.Options.FailureHandler, err); herr == nil {
				out, err = []byte(err.Error()), nil
			} else {
				err = herr
			}
		}
		r.e.obs.OperationEnded(octx, oi, err)
		if err != nil {
			return nil, fmt.Errorf("operation %s: %w", op.ID(), err)
		}
		data = out
	}
	return data, nil
}

func (r *run) runOp(ctx context.Context, op *sdk.Op, info NodeInfo, data []byte) ([]byte, error) {
	if t := op.Options.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	switch op.Kind {
	case sdk.OpModify:
		if _, ok := ctx.Deadline(); !ok {
			return callModify(ctx, op, data, info.NodeID)
		}
		if op.ModifyContext != nil {
			return r.guard(ctx, info, "modifier of "+info.NodeID, func() ([]byte, error) { return op.ModifyContext(ctx, data) })
		}
		return r.guard(ctx, info, "modifier of "+info.NodeID, func() ([]byte, error) { return op.Modify(data) })
	case sdk.OpCustom:
		opts := map[string]interface{}{"request-id": r.reqID, "flow": r.e.o.Flow}
		if co, ok := op.Custom.(sdk.ContextOperation); ok {
			return r.guard(ctx, info, "operation "+op.ID(), func() ([]byte, error) { return co.ExecuteContext(ctx, data, opts) })
		}
		return r.guard(ctx, info, "operation "+op.ID(), func() ([]byte, error) { return op.Custom.Execute(data, opts) })
	default:
		if r.e.o.Invoker == nil {
			return nil, fmt.Errorf("%w: no Invoker for %s", ErrConfig, op.ID())
		}
		call := &Call{Kind: op.Kind, Target: op.Target, Data: data, Options: &op.Options, Flow: r.e.o.Flow, RequestID: r.reqID, Node: info.Node}
		out, err := r.e.o.Invoker.Invoke(ctx, call)
		if err != nil && ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", sdk.ErrTimeout, err)
		}
		if err != nil {
			return nil, err
		}
		if op.Kind == sdk.OpCallback {
			return data, nil
		}
		return out, nil
	}
}

// guard calls user code, turning a panic into a sdk.PanicError. When ctx has a
// deadline, the call runs in its own goroutine so the deadline can fire even
// if the code ignores it: the goroutine is then abandoned, still running,
// and reported to Options.OnOverrun.
func (r *run) guard(ctx context.Context, info NodeInfo, where string, f func() ([]byte, error)) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		return protect(where, f)
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, err := protect(where, f)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		return res.b, res.err
	case <-ctx.Done():
		if h := r.e.o.OnOverrun; h != nil {
			h(Overrun{RequestID: r.reqID, Node: info.NodeID, Where: where, Done: done})
		}
		return nil, fmt.Errorf("%s: %w: %w", where, sdk.ErrTimeout, ctx.Err())
	}
}

func protect(where string, f func() ([]byte, error)) (b []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &sdk.PanicError{Where: where, Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}

// callModify runs a modifier with no deadline, without allocating.
func callModify(ctx context.Context, op *sdk.Op, data []byte, nodeID string) (b []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &sdk.PanicError{Where: "modifier of " + nodeID, Value: v, Stack: debug.Stack()}
		}
	}()
	if op.ModifyContext != nil {
		return op.ModifyContext(ctx, data)
	}
	return op.Modify(data)
}

func callAggregator(agg sdk.AggregatorFunc, in map[string][]byte, where string) ([]byte, error) {
	return protect(where, func() ([]byte, error) { return agg(in) })
}

func callForwarder(f sdk.ForwarderFunc, in []byte, where string) ([]byte, error) {
	return protect("forwarder of "+where, func() ([]byte, error) { return f(in), nil })
}

func callForEach(f sdk.ForEach, in []byte, where string) (m map[string][]byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &sdk.PanicError{Where: "foreach of " + where, Value: v, Stack: debug.Stack()}
		}
	}()
	return f(in), nil
}

func callCondition(f sdk.Condition, in []byte, where string) (keys []string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &sdk.PanicError{Where: "condition of " + where, Value: v, Stack: debug.Stack()}
		}
	}()
	return f(in), nil
}

func callFailureHandler(h sdk.PipelineErrorHandler, cause error) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &sdk.PanicError{Where: "OnFailure handler", Value: v}
		}
	}()
	return h(cause)
}

func callFailureHandlerOp(h sdk.FuncErrorHandler, cause error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &sdk.PanicError{Where: "operation failure handler", Value: v}
		}
	}()
	return h(cause)
}

func callFinally(h sdk.PipelineHandler, state string) {
	defer func() { _ = recover() }()
	h(state)
}

// emitConcurrency bounds the hops one invocation emits at once (the
// branches of a foreach, the children of a node): each emit is a store write
// and a network call, so doing them one by one makes a wide fan-out slow.
const emitConcurrency = 16

// concurrently runs f(0..n-1) with at most emitConcurrency at a time and
// returns the errors joined. One call runs inline.
func concurrently(ctx context.Context, n int, f func(i int) error) error {
	if n == 1 {
		return f(0)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, emitConcurrency)
	)
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func sortStrings(s []string) { sort.Strings(s) }

func splitSlash(s string) []string { return strings.Split(s, "/") }

func indexByte(s string, c byte) int { return strings.IndexByte(s, c) }
