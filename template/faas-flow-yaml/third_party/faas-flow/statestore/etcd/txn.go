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
			resp, err = s.commit(ctx, s.txnRequest(ops, leases))
			if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
				// A cached lease vanished (see putIf); the transaction was
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

// txnRequest builds the transaction of ops as etcd's own request. It is
// built directly rather than with clientv3's Txn builder, which copies
// every comparison with reflection two or three times (about 3% of a flow's
// CPU); the request is the same.
func (s *Store) txnRequest(ops []sdk.TxnOp, leases map[time.Duration]clientv3.LeaseID) *etcdserverpb.TxnRequest {
	req := &etcdserverpb.TxnRequest{}
	for _, op := range ops {
		k := []byte(s.key(op.Key))
		switch op.Kind {
		case sdk.TxnKindGet:
			get := rangeOp(&etcdserverpb.RangeRequest{Key: k})
			req.Success, req.Failure = append(req.Success, get), append(req.Failure, get)
		case sdk.TxnKindCount:
			end := []byte(clientv3.GetPrefixRangeEnd(string(k)))
			count := rangeOp(&etcdserverpb.RangeRequest{Key: k, RangeEnd: end, CountOnly: true})
			req.Success, req.Failure = append(req.Success, count), append(req.Failure, count)
		case sdk.TxnKindCreate:
			create := &etcdserverpb.TxnRequest{
				Compare: []*etcdserverpb.Compare{absent(k)},
				Success: []*etcdserverpb.RequestOp{putOp(k, op.Value, leases[op.TTL])},
				Failure: []*etcdserverpb.RequestOp{rangeOp(&etcdserverpb.RangeRequest{Key: k})},
			}
			req.Success = append(req.Success, &etcdserverpb.RequestOp{Request: &etcdserverpb.RequestOp_RequestTxn{RequestTxn: create}})
		case sdk.TxnKindSwap:
			cmp := modifiedAt(k, op.Version)
			if op.Version <= 0 {
				// No version this store returns is <= 0: never swaps.
				cmp.Result = etcdserverpb.Compare_LESS
			}
			req.Compare = append(req.Compare, cmp)
			req.Success = append(req.Success, putOp(k, op.Value, leases[op.TTL]))
		}
	}
	return req
}

// commit sends req as clientv3's Txn.Commit would.
func (s *Store) commit(ctx context.Context, req *etcdserverpb.TxnRequest) (*clientv3.TxnResponse, error) {
	resp, err := s.kv.Txn(ctx, req, s.callOpts...)
	if err != nil {
		return nil, clientv3.ContextError(ctx, err)
	}
	return (*clientv3.TxnResponse)(resp), nil
}

// absent is the comparison "k does not exist".
func absent(k []byte) *etcdserverpb.Compare {
	return &etcdserverpb.Compare{Key: k, Target: etcdserverpb.Compare_CREATE, Result: etcdserverpb.Compare_EQUAL,
		TargetUnion: &etcdserverpb.Compare_CreateRevision{CreateRevision: 0}}
}

// modifiedAt is the comparison "k was last written at revision rev".
func modifiedAt(k []byte, rev int64) *etcdserverpb.Compare {
	return &etcdserverpb.Compare{Key: k, Target: etcdserverpb.Compare_MOD, Result: etcdserverpb.Compare_EQUAL,
		TargetUnion: &etcdserverpb.Compare_ModRevision{ModRevision: rev}}
}

// rangeOp is a read of a transaction.
func rangeOp(r *etcdserverpb.RangeRequest) *etcdserverpb.RequestOp {
	return &etcdserverpb.RequestOp{Request: &etcdserverpb.RequestOp_RequestRange{RequestRange: r}}
}

// putOp is a write of a transaction, under lease unless it is 0.
func putOp(k, v []byte, lease clientv3.LeaseID) *etcdserverpb.RequestOp {
	put := &etcdserverpb.PutRequest{Key: k, Value: v, Lease: int64(lease)}
	return &etcdserverpb.RequestOp{Request: &etcdserverpb.RequestOp_RequestPut{RequestPut: put}}
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
