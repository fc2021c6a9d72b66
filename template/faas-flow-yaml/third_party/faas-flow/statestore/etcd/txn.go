package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/faas-flow/faas-flow/sdk"
)

// Txn implements sdk.Transactor with one etcd transaction:
//
//	If   ModRevision(k) == version     for every swap
//	Then Put (swap), If CreateRevision(k) == 0 Then Put Else Get (create),
//	     Get, count-only Get (reads), in the order of ops
//	Else the reads alone
//
// Read-only transactions take etcd's read path, without a raft proposal.
func (s *Store) Txn(ctx context.Context, ops ...sdk.TxnOp) ([]sdk.TxnResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	writes, err := sdk.CheckTxn(ops)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where, err)
	}
	var resp *clientv3.TxnResponse
	err = s.call(ctx, "transaction", ops[0].Key, writes == 0, func(ctx context.Context) error {
		for attempt := 0; ; attempt++ {
			leases, err := s.txnLeases(ctx, ops)
			if err != nil {
				// Granting a lease writes nothing the caller can see; it is
				// always safe to retry.
				return retrySafe{fmt.Errorf("grant lease: %w", err)}
			}
			resp, err = s.txnRequest(ctx, ops, leases).Commit()
			if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
				// A cached lease vanished (see txnIf); the transaction was
				// rejected, so try once more with fresh leases.
				for _, op := range ops {
					if id, ok := leases[op.TTL]; ok && id != 0 {
						s.leases.forget(op.TTL, id)
					}
				}
				continue
			}
			return err
		}
	})
	if err != nil {
		return nil, err
	}
	return s.txnResults(ops, resp), nil
}

// leased reports whether op writes its key with a lease.
func leased(op sdk.TxnOp) bool {
	return op.TTL > 0 && (op.Kind == sdk.TxnKindCreate || op.Kind == sdk.TxnKindSwap)
}

// txnLeases returns a lease for each ttl the writes of ops use.
func (s *Store) txnLeases(ctx context.Context, ops []sdk.TxnOp) (map[time.Duration]clientv3.LeaseID, error) {
	var leases map[time.Duration]clientv3.LeaseID
	for i, op := range ops {
		if !leased(op) {
			continue
		}
		if _, ok := leases[op.TTL]; ok {
			continue
		}
		keys := 0
		for _, o := range ops[i:] {
			if leased(o) && o.TTL == op.TTL {
				keys++
			}
		}
		id, err := s.leases.get(ctx, op.TTL, keys)
		if err != nil {
			return nil, err
		}
		if leases == nil {
			leases = make(map[time.Duration]clientv3.LeaseID)
		}
		leases[op.TTL] = id
	}
	return leases, nil
}

// txnRequest builds the transaction of ops.
func (s *Store) txnRequest(ctx context.Context, ops []sdk.TxnOp, leases map[time.Duration]clientv3.LeaseID) clientv3.Txn {
	var cmps []clientv3.Cmp
	var then, els []clientv3.Op
	for _, op := range ops {
		k := s.key(op.Key)
		var put clientv3.Op
		if op.Kind == sdk.TxnKindCreate || op.Kind == sdk.TxnKindSwap {
			var opts []clientv3.OpOption
			if id := leases[op.TTL]; id != 0 {
				opts = append(opts, clientv3.WithLease(id))
			}
			put = clientv3.OpPut(k, string(op.Value), opts...)
		}
		switch op.Kind {
		case sdk.TxnKindGet:
			then, els = append(then, clientv3.OpGet(k)), append(els, clientv3.OpGet(k))
		case sdk.TxnKindCount:
			c := clientv3.OpGet(k, clientv3.WithPrefix(), clientv3.WithCountOnly())
			then, els = append(then, c), append(els, c)
		case sdk.TxnKindCreate:
			absent := clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
			then = append(then, clientv3.OpTxn([]clientv3.Cmp{absent}, []clientv3.Op{put}, []clientv3.Op{clientv3.OpGet(k)}))
		case sdk.TxnKindSwap:
			if op.Version > 0 {
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", op.Version))
			} else {
				// No version this store returns is <= 0: never swaps.
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "<", 0))
			}
			then = append(then, put)
		}
	}
	return s.cli.Txn(ctx).If(cmps...).Then(then...).Else(els...)
}

// txnResults maps the responses of the branch that ran back to ops.
func (s *Store) txnResults(ops []sdk.TxnOp, resp *clientv3.TxnResponse) []sdk.TxnResult {
	out := make([]sdk.TxnResult, len(ops))
	rev := resp.Header.Revision
	i := 0 // next response
	for j, op := range ops {
		r := &out[j]
		isRead := op.Kind == sdk.TxnKindGet || op.Kind == sdk.TxnKindCount
		if !resp.Succeeded && !isRead {
			continue // the Else branch has only the reads
		}
		if i >= len(resp.Responses) {
			break
		}
		ro := resp.Responses[i]
		i++
		switch op.Kind {
		case sdk.TxnKindGet:
			readInto(r, ro.GetResponseRange())
		case sdk.TxnKindCount:
			if rr := ro.GetResponseRange(); rr != nil {
				r.Count = int(rr.Count)
			}
		case sdk.TxnKindCreate:
			t := ro.GetResponseTxn()
			switch {
			case t == nil:
			case t.Succeeded:
				r.OK, r.Version = true, rev
			case len(t.Responses) > 0:
				readInto(r, t.Responses[0].GetResponseRange())
				r.OK = false
			}
		case sdk.TxnKindSwap:
			r.OK, r.Version = true, rev
		}
	}
	return out
}

// readInto fills r from the first entry of a range response.
func readInto(r *sdk.TxnResult, rr *etcdserverpb.RangeResponse) {
	if rr == nil || len(rr.Kvs) == 0 {
		return
	}
	r.OK, r.Value, r.Version = true, nonNil(rr.Kvs[0].Value), rr.Kvs[0].ModRevision
}
