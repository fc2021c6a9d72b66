package engine

import (
	"context"
	"errors"

	"github.com/faas-flow/faas-flow/sdk"
)

// txn applies ops in one round trip with the StateStore's sdk.Transactor.
// Without one it runs them one by one with the single-key calls, which
// keeps their results but not their atomicity; callers rely only on what
// both give: a swap (the engine puts at most one, first) guards the writes
// after it, a Create has one winner, and each read sees the writes before
// it.
func (e *Engine) txn(ctx context.Context, ops ...sdk.TxnOp) ([]sdk.TxnResult, error) {
	if e.tx != nil {
		return e.tx.Txn(ctx, ops...)
	}
	st := e.o.StateStore
	out := make([]sdk.TxnResult, len(ops))
	guard := true
	for i, op := range ops {
		r := &out[i]
		switch op.Kind {
		case sdk.TxnKindGet:
			v, ver, err := st.Get(ctx, op.Key)
			switch {
			case err == nil:
				r.OK, r.Value, r.Version = true, v, ver
			case !errors.Is(err, sdk.ErrNotFound):
				return nil, err
			}
		case sdk.TxnKindCount:
			kvs, err := st.List(ctx, op.Key)
			if err != nil {
				return nil, err
			}
			r.Count = len(kvs)
		case sdk.TxnKindSwap:
			if !guard {
				continue
			}
			ver, ok, err := st.CompareAndSwap(ctx, op.Key, op.Version, op.Value, op.TTL)
			if err != nil {
				return nil, err
			}
			r.OK, r.Version, guard = ok, ver, ok
		case sdk.TxnKindCreate:
			if !guard {
				continue
			}
			ver, ok, err := st.Create(ctx, op.Key, op.Value, op.TTL)
			if err != nil {
				return nil, err
			}
			if ok {
				r.OK, r.Version = true, ver
				continue
			}
			v, ver, err := st.Get(ctx, op.Key)
			switch {
			case err == nil:
				r.Value, r.Version = v, ver
			case !errors.Is(err, sdk.ErrNotFound):
				return nil, err
			}
		}
	}
	return out, nil
}

// count returns how many keys start with prefix.
func (e *Engine) count(ctx context.Context, prefix string) (int, error) {
	res, err := e.txn(ctx, sdk.TxnCount(prefix))
	if err != nil {
		return 0, err
	}
	return res[0].Count, nil
}
