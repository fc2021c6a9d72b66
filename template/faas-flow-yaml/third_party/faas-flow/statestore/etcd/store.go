package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/faas-flow/faas-flow/sdk"
)

// ErrAuth reports that etcd rejected the configured credentials or that the
// user may not access the key prefix. It is a configuration error, not an
// outage, so it does not wrap sdk.ErrStoreUnavailable.
var ErrAuth = errors.New("etcd authentication or permission failure")

// The gRPC keepalive of the client, kept within what etcd servers enforce
// (--grpc-keepalive-min-time, 5s by default, and pings only while a stream
// is open: etcd's policy never permits pings without one). A client that
// pings more often, or while idle, collects ping strikes and is dropped
// with GOAWAY too_many_pings, which gRPC logs as an error.
const (
	// KeepAliveTime is the time between pings on a connection with open
	// streams (watches, lease keep-alives). It must be at least the
	// server's minimum.
	KeepAliveTime = 10 * time.Second
	// KeepAliveTimeout is how long a ping may go unanswered before the
	// connection is closed.
	KeepAliveTimeout = 3 * time.Second
	// KeepAliveWithoutStream is false: an idle connection is not pinged
	// (a call on it fails within its own timeout instead).
	KeepAliveWithoutStream = false
)

// Store is an sdk.StateStore on etcd. It is safe for concurrent use.
type Store struct {
	cli *clientv3.Client
	// kv and callOpts send transactions built without clientv3's builder
	// (see txnRequest): the client's connection, and the options clientv3
	// gives every call of a client configured as New configures it.
	kv       etcdserverpb.KVClient
	callOpts []grpc.CallOption
	opts     Options
	where    string // "etcd state store (endpoints)" for error messages
	leases   *leaseCache
}

var (
	_ sdk.StateStore = (*Store)(nil)
	_ sdk.Transactor = (*Store)(nil)
	_ sdk.Closer     = (*Store)(nil)
	_ sdk.Watcher    = (*Store)(nil)
)

// New connects to etcd and checks, within Options.DialTimeout, that the
// cluster answers and the credentials may read Options.KeyPrefix. It fails
// with one clear error when nothing listens, TLS does not match, or the
// credentials are wrong; it does not hang.
func New(ctx context.Context, opts Options) (*Store, error) {
	o := opts.withDefaults()
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd state store: %w", err)
	}
	eps, err := o.endpoints(tlsCfg != nil)
	if err != nil {
		return nil, fmt.Errorf("etcd state store: %w", err)
	}
	s := &Store{opts: o, where: "etcd state store (" + strings.Join(eps, ",") + ")"}

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            eps,
		Username:             o.Username,
		Password:             o.Password,
		TLS:                  tlsCfg,
		DialTimeout:          o.DialTimeout,
		DialKeepAliveTime:    KeepAliveTime,
		DialKeepAliveTimeout: KeepAliveTimeout,
		PermitWithoutStream:  KeepAliveWithoutStream,
		Logger:               o.Logger,
		// Reconnect quickly after an outage instead of gRPC's default
		// backoff of up to two minutes.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: o.DialTimeout,
		})},
	})
	if err != nil {
		return nil, s.startError(eps, tlsCfg, err)
	}
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	_, err = cli.Get(pctx, o.KeyPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		_ = cli.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: start-up probe: %w", s.where, ctx.Err())
		}
		return nil, s.startError(eps, tlsCfg, err)
	}
	s.cli = cli
	s.kv = clientv3.RetryKVClient(cli)
	s.callOpts = []grpc.CallOption{
		grpc.WaitForReady(true),
		grpc.MaxCallSendMsgSize(2 << 20),       // clientv3's default
		grpc.MaxCallRecvMsgSize(math.MaxInt32), // clientv3's default
	}
	s.leases = newLeaseCache(cli, o.LeaseWindow)
	return s, nil
}

// startError turns a failure of New into one clear error.
func (s *Store) startError(eps []string, tlsCfg *tls.Config, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("%s: authentication failed for user %q (check the etcd user and password): %w: %w", s.where, s.opts.Username, ErrAuth, err)
	case errors.Is(err, rpctypes.ErrUserEmpty), errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrInvalidAuthMgmt):
		return fmt.Errorf("%s: etcd requires authentication: set the etcd user and password: %w: %w", s.where, ErrAuth, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("%s: user %q may not read keys under %q: %w: %w", s.where, s.opts.Username, s.opts.KeyPrefix, ErrAuth, err)
	}
	if classify(err) == permanent && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: start-up probe: %w", s.where, err)
	}
	diag := diagnose(eps, tlsCfg)
	if diag == "" {
		diag = err.Error()
	}
	return fmt.Errorf("%s: no answer within %v: %s: %w", s.where, s.opts.DialTimeout, diag, sdk.ErrStoreUnavailable)
}

// Close releases the connection. Leases already granted expire on their own.
func (s *Store) Close() error { return s.cli.Close() }

func (s *Store) key(k string) string { return s.opts.KeyPrefix + k }

// readOpts are the options of every read.
func (s *Store) readOpts() []clientv3.OpOption {
	if s.opts.SerializableReads {
		return []clientv3.OpOption{clientv3.WithSerializable()}
	}
	return nil
}

// Get implements sdk.StateStore.
func (s *Store) Get(ctx context.Context, key string) ([]byte, int64, error) {
	var resp *clientv3.GetResponse
	err := s.call(ctx, "get", key, true, func(ctx context.Context) (err error) {
		resp, err = s.cli.Get(ctx, s.key(key), s.readOpts()...)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("etcd state store: key %q: %w", key, sdk.ErrNotFound)
	}
	kv := resp.Kvs[0]
	return nonNil(kv.Value), kv.ModRevision, nil
}

// Create implements sdk.StateStore with one transaction:
// If CreateRevision(key) == 0 Then Put.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, bool, error) {
	return s.putIf(ctx, "create", key, absent([]byte(s.key(key))), value, ttl)
}

// CompareAndSwap implements sdk.StateStore with one transaction:
// If ModRevision(key) == version Then Put. A missing key has ModRevision 0,
// which no version returned by this store equals.
func (s *Store) CompareAndSwap(ctx context.Context, key string, version int64, value []byte, ttl time.Duration) (int64, bool, error) {
	if version <= 0 {
		if err := ctx.Err(); err != nil {
			return 0, false, fmt.Errorf("%s: compare-and-swap %q: %w", s.where, key, err)
		}
		return 0, false, nil
	}
	return s.putIf(ctx, "compare-and-swap", key, modifiedAt([]byte(s.key(key)), version), value, ttl)
}

// putIf runs If cond Then Put(key, value, lease for ttl) with the store's
// error handling. ok reports whether cond held; the new version is then
// the transaction's revision: the key's ModRevision.
func (s *Store) putIf(ctx context.Context, op, key string, cond *etcdserverpb.Compare, value []byte, ttl time.Duration) (rev int64, ok bool, err error) {
	k := []byte(s.key(key))
	err = s.call(ctx, op, key, false, func(ctx context.Context) error {
		for attempt := 0; ; attempt++ {
			var lease clientv3.LeaseID
			if ttl > 0 {
				id, err := s.leases.get(ctx, ttl, 1)
				if err != nil {
					// Granting a lease writes nothing the caller can see;
					// it is always safe to retry.
					return retrySafe{fmt.Errorf("grant lease: %w", err)}
				}
				lease = id
			}
			resp, err := s.commit(ctx, &etcdserverpb.TxnRequest{
				Compare: []*etcdserverpb.Compare{cond},
				Success: []*etcdserverpb.RequestOp{putOp(k, value, lease)},
			})
			if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
				// The cached lease vanished (revoked by an operator, or a
				// cluster restored from backup). The put was rejected, so
				// try once more with a fresh lease.
				s.leases.forget(ttl, lease)
				continue
			}
			if err != nil {
				return err
			}
			ok = resp.Succeeded
			if ok {
				rev = resp.Header.Revision
			}
			return nil
		}
	})
	return rev, ok, err
}

// Delete implements sdk.StateStore.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.call(ctx, "delete", key, true, func(ctx context.Context) error {
		_, err := s.cli.Delete(ctx, s.key(key))
		return err
	})
}

// DeletePrefix implements sdk.StateStore with one range delete.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	return s.call(ctx, "delete prefix", prefix, true, func(ctx context.Context) error {
		_, err := s.cli.Delete(ctx, s.key(prefix), clientv3.WithPrefix())
		return err
	})
}

// List implements sdk.StateStore. Large results are read in pages, all at
// the revision of the first page, so the result is one consistent snapshot.
func (s *Store) List(ctx context.Context, prefix string) ([]sdk.KV, error) {
	var out []sdk.KV
	err := s.call(ctx, "list", prefix, true, func(ctx context.Context) error {
		var err error
		out, err = s.list(ctx, prefix)
		if errors.Is(err, rpctypes.ErrCompacted) {
			// The snapshot revision was compacted between pages; start
			// over at the current revision (cheap and rare).
			out, err = s.list(ctx, prefix)
		}
		return err
	})
	return out, err
}

func (s *Store) list(ctx context.Context, prefix string) ([]sdk.KV, error) {
	start := s.key(prefix)
	end := clientv3.GetPrefixRangeEnd(start)
	var (
		out []sdk.KV
		rev int64
	)
	for {
		opts := append([]clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPageSize)}, s.readOpts()...)
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(ctx, start, opts...)
		if err != nil {
			return nil, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, sdk.KV{
				Key:     strings.TrimPrefix(string(kv.Key), s.opts.KeyPrefix),
				Value:   nonNil(kv.Value),
				Version: kv.ModRevision,
			})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// ListRange implements sdk.RangeLister with one range read of at most
// limit keys. etcd counts every key of the range it reads: callers keep
// ranges short to keep it cheap.
func (s *Store) ListRange(ctx context.Context, prefix, from, to string, limit int) ([]sdk.KV, error) {
	if limit < 1 {
		return nil, ctx.Err()
	}
	start, end := s.key(prefix), clientv3.GetPrefixRangeEnd(s.key(prefix))
	if from != "" && s.key(from) > start {
		start = s.key(from)
	}
	if to != "" && s.key(to) < end {
		end = s.key(to)
	}
	if start >= end {
		return nil, ctx.Err()
	}
	var out []sdk.KV
	err := s.call(ctx, "list range", prefix, true, func(ctx context.Context) error {
		opts := append([]clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(int64(limit))}, s.readOpts()...)
		resp, err := s.cli.Get(ctx, start, opts...)
		if err != nil {
			return err
		}
		out = make([]sdk.KV, 0, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			out = append(out, sdk.KV{
				Key:     strings.TrimPrefix(string(kv.Key), s.opts.KeyPrefix),
				Value:   nonNil(kv.Value),
				Version: kv.ModRevision,
			})
		}
		return nil
	})
	return out, err
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
