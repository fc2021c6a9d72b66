package flowtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/faas-flow/faas-flow/engine"
)

// Result is the outcome of one request.
type Result struct {
	ID     string
	State  string // engine.StateSucceeded, StateFailed, StateStopped
	Output []byte
	// Err is the request's error message (failed requests).
	Err    string
	Record *engine.RequestRecord
	// Redelivered counts the hops the reconciler sent again for the
	// request while Await waited.
	Redelivered int
}

// RunOption configures one Run.
type RunOption func(*engine.StartRequest)

// WithQuery sets the request's query string.
func WithQuery(q url.Values) RunOption { return func(r *engine.StartRequest) { r.Query = q } }

// WithRequestID sets the request id.
func WithRequestID(id string) RunOption { return func(r *engine.StartRequest) { r.ID = id } }

// ErrStalled reports a request that stopped making progress: no hop is in
// flight, the request has not ended, and the reconciler found nothing to
// send again.
var ErrStalled = errors.New("flowtest: request stalled with no hop in flight")

// Run starts a request and waits until it has ended and every hop (with
// duplicates) has been delivered. A flow that returns an error from a node
// is not a Run error: look at Result.State.
func (h *Harness) Run(ctx context.Context, input []byte, opts ...RunOption) (*Result, error) {
	req := engine.StartRequest{Body: input}
	for _, o := range opts {
		o(&req)
	}
	if req.ID == "" {
		req.ID = engine.NewRequestID()
	}
	res, err := h.Engine.Start(h.reaper.doom(ctx), req)
	if res != nil && res.Sync {
		r := &Result{ID: res.ID, State: res.State, Output: res.Result}
		if err != nil {
			r.Err = err.Error()
		}
		return r, nil
	}
	if err != nil {
		// A start that chaos killed may have created the request, which
		// then goes on without it, as it would after a real crash.
		if _, serr := h.Engine.State(ctx, req.ID); !errors.Is(err, ErrKilled) || serr != nil {
			return nil, err
		}
	}
	return h.Await(ctx, req.ID)
}

// Await waits until request id has ended, every hop has been delivered and
// the request has been cleaned up. When the request stalls (lost hops,
// deliveries that died), it does what time and the reconciler would do:
// it moves the engine's clock past the reconciler's deadlines and makes a
// pass, as often as a pass finds something to do.
func (h *Harness) Await(ctx context.Context, id string) (*Result, error) {
	redelivered, fruitless := 0, 0
	for {
		if err := h.Transport.WaitIdle(ctx); err != nil {
			return nil, err
		}
		out, rec, err := h.Engine.Result(ctx, id)
		switch {
		case errors.Is(err, engine.ErrUnknownRequest):
			// Retention -1: the record is gone once the request ended.
			return &Result{ID: id, State: "ended-and-deleted", Redelivered: redelivered}, nil
		case err == nil && rec.Cleaned:
			// One more pass finishes a cleanup cut short by chaos.
			if _, err := h.pass(ctx); err != nil {
				return nil, err
			}
			return &Result{ID: id, State: rec.State, Output: out, Err: rec.Error, Record: rec, Redelivered: redelivered}, nil
		case errors.Is(err, engine.ErrNotFinished) && rec.State == engine.StatePaused:
			return &Result{ID: id, State: rec.State, Record: rec, Redelivered: redelivered}, nil
		case err != nil && !errors.Is(err, engine.ErrNotFinished):
			return nil, err
		}
		if !h.Transport.Idle() {
			continue
		}
		// Stalled, or ended and not drained yet: let time pass.
		rep, err := h.pass(ctx)
		if err != nil {
			return nil, err
		}
		redelivered += rep.Redelivered
		if rep.Redelivered+rep.Drained > 0 {
			fruitless = 0
			continue
		}
		if fruitless++; fruitless > 2 {
			return nil, fmt.Errorf("%w: request %s is %s", ErrStalled, id, rec.State)
		}
	}
}

// pass moves the harness's clock past every deadline of the reconciler
// (leases, stalls with their backoff) and makes one reconciler pass.
func (h *Harness) pass(ctx context.Context) (engine.ReconcileReport, error) {
	if h.ownClock {
		o := h.Engine.Options()
		h.skipped.Add(int64(40 * max(o.Lease, o.StallAfter)))
	}
	return h.Engine.Reconcile(ctx)
}

// Redrive redrives request id (see engine.Engine.Redrive) and waits for it
// to end again, as Await does. Under chaos the redrive may be killed
// partway, as a process can die under an operator's call: when it had
// already restarted the request, the request goes on without it;
// otherwise Redrive returns ErrKilled, and the caller may call again.
func (h *Harness) Redrive(ctx context.Context, id string) (*Result, error) {
	if _, err := h.Engine.Redrive(h.reaper.doom(ctx), id); err != nil {
		rec, serr := h.Engine.State(ctx, id)
		if !errors.Is(err, ErrKilled) || serr != nil || rec.State != engine.StateRunning {
			return nil, err
		}
	}
	return h.Await(ctx, id)
}
