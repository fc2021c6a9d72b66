package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors returned by StateStore and DataStore implementations. Callers use
// errors.Is; implementations wrap them with detail.
var (
	// ErrNotFound reports that a key or object does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrStoreUnavailable reports a store that cannot be reached or timed out.
	// Implementations wrap transport failures with it so that the engine and
	// the HTTP layer can tell "try again later" from "bad input".
	ErrStoreUnavailable = errors.New("store unavailable")
)

// KV is one entry returned by StateStore.List.
type KV struct {
	Key     string
	Value   []byte
	Version int64 // opaque; pass to CompareAndSwap
}

// StateStore holds the coordination state of requests: request records, node
// records, join arrivals and branch completions. Values are small (a few KiB).
//
// Every method must be atomic and linearizable for a single key: the engine's
// guarantees under at-least-once delivery rest on Create and CompareAndSwap
// having exactly one winner among concurrent callers. Keys are slash-separated
// paths built by the engine; implementations may add a fixed root prefix but
// must not otherwise interpret them.
//
// A ttl of zero means "no expiry". A key whose ttl has passed behaves as if it
// had been deleted. Implementations may expire keys somewhat later than asked
// (etcd lease reuse, for example) but never earlier.
type StateStore interface {
	// Get returns the value and version of key, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, key string) (value []byte, version int64, err error)

	// Create writes key only if it does not exist. It reports whether this
	// call created it and, if so, the new version (as Get would return it);
	// created == false with a nil error means another writer got there first.
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) (version int64, created bool, err error)

	// CompareAndSwap replaces the value of key only if its current version is
	// version. It reports whether the swap happened and, if so, the new
	// version; a missing key is not swapped (0, false, nil). The ttl replaces
	// the key's previous ttl.
	CompareAndSwap(ctx context.Context, key string, version int64, value []byte, ttl time.Duration) (newVersion int64, swapped bool, err error)

	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// List returns every live key that starts with prefix, ordered by key.
	List(ctx context.Context, prefix string) ([]KV, error)

	// DeletePrefix removes every key that starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
}

// RangeLister is implemented by StateStores that can read a range of
// keys with a limit, at a cost that depends on the range and the limit,
// not on how many keys share the prefix (etcd: one range read). The engine
// lists a flow's requests with it, a page at a time; with a store without
// it, it reads the whole prefix with List instead.
type RangeLister interface {
	// ListRange returns, ordered by key, at most limit live keys that
	// start with prefix and lie in [from, to): from "" is the prefix's
	// first key, to "" its end. A limit below 1 returns nothing.
	ListRange(ctx context.Context, prefix, from, to string, limit int) ([]KV, error)
}

// Transactor is implemented by StateStores that can apply several
// operations as one atomic step (etcd: one transaction, one round trip). It
// is optional: with it the engine does in one round trip what otherwise takes
// several, such as claiming a node, reading its request's record and creating
// the records of the nodes it will start, or recording a branch result and
// counting the results so far. Stores without it get the same behaviour from
// single-key calls.
type Transactor interface {
	// Txn applies ops as one atomic step and returns one result per op, in
	// order.
	//
	// Swap ops guard the transaction: if the version of any of them does
	// not match, Txn writes nothing and only does the reads (Get, Count).
	// A Create whose key exists writes nothing and returns the existing
	// entry; it does not stop the other ops. Reads see the writes of the
	// ops before them. No two write ops may name the same key.
	Txn(ctx context.Context, ops ...TxnOp) ([]TxnResult, error)
}

// TxnKind says what a TxnOp does.
type TxnKind uint8

// Kinds of TxnOp.
const (
	TxnKindGet    TxnKind = iota + 1 // read Key
	TxnKindCount                     // count the keys under the prefix Key
	TxnKindCreate                    // write Key if it does not exist
	TxnKindSwap                      // write Key if its version is Version
)

// TxnOp is one operation of Transactor.Txn. Build it with TxnGet, TxnCount,
// TxnCreate or TxnSwap.
type TxnOp struct {
	Kind    TxnKind
	Key     string        // the key, or the prefix of a count
	Value   []byte        // create, swap
	Version int64         // swap: the expected version
	TTL     time.Duration // create, swap: as in StateStore.Create
}

// TxnGet reads key.
func TxnGet(key string) TxnOp { return TxnOp{Kind: TxnKindGet, Key: key} }

// TxnCount counts the live keys that start with prefix.
func TxnCount(prefix string) TxnOp { return TxnOp{Kind: TxnKindCount, Key: prefix} }

// TxnCreate writes key if it does not exist, like StateStore.Create.
func TxnCreate(key string, value []byte, ttl time.Duration) TxnOp {
	return TxnOp{Kind: TxnKindCreate, Key: key, Value: value, TTL: ttl}
}

// TxnSwap writes key if its version is version, like
// StateStore.CompareAndSwap, and guards the whole transaction.
func TxnSwap(key string, version int64, value []byte, ttl time.Duration) TxnOp {
	return TxnOp{Kind: TxnKindSwap, Key: key, Version: version, Value: value, TTL: ttl}
}

// TxnResult is the outcome of one TxnOp.
type TxnResult struct {
	// OK reports that a Get found its key, a Create created it or a Swap
	// swapped.
	OK bool
	// Version is the new version of a write that happened, or the version
	// of the entry a Get read or a Create found (0: no such key).
	Version int64
	// Value is the entry a Get read or a Create found (nil: no such key).
	Value []byte
	// Count is the result of a Count.
	Count int
}

// ErrInvalidTxn is wrapped by Txn errors for transactions no store can
// apply: an op of unknown kind, or two writes of one key.
var ErrInvalidTxn = errors.New("invalid transaction")

// CheckTxn validates ops for a Transactor implementation, which calls it
// before applying them, and returns how many of them write. The error wraps
// ErrInvalidTxn.
func CheckTxn(ops []TxnOp) (writes int, err error) {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		switch op.Kind {
		case TxnKindGet, TxnKindCount:
		case TxnKindCreate, TxnKindSwap:
			if seen[op.Key] {
				return 0, fmt.Errorf("%w: it writes %q twice", ErrInvalidTxn, op.Key)
			}
			seen[op.Key] = true
			writes++
		default:
			return 0, fmt.Errorf("%w: op of unknown kind %d", ErrInvalidTxn, op.Kind)
		}
	}
	return writes, nil
}

// DataStore holds intermediate data: edge payloads too large to ride inside a
// hop, join inputs, branch results, context values and final results. Values
// may be large (tens of MiB).
type DataStore interface {
	// Put stores data under key, replacing any previous value atomically: a
	// concurrent Get sees the old or the new value, never a mix.
	Put(ctx context.Context, key string, data []byte) error

	// Get returns the data stored under key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)

	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// DeletePrefix removes every key that starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
}

// Expirer is implemented by DataStores that can remove old objects by
// themselves. When its flow function starts, and then every hour, the engine
// asks that objects under its flow's prefixes be removed once they are older
// than any request may live or any result be kept: the data of requests
// abandoned by a crash, which never drain, then goes the way their state in
// the StateStore goes (TTL).
type Expirer interface {
	// ExpireAfter removes, now or from now on, the objects under prefix
	// (which ends in "/") that are older than age.
	ExpireAfter(ctx context.Context, prefix string, age time.Duration) error
}

// Watcher is implemented by StateStores that can report a change of a key
// as it happens (statestore/etcd does, with an etcd watch). The engine uses
// it while a caller waits for the end of a request that another process
// may end; without it, the engine reads the request's record again at
// growing intervals.
type Watcher interface {
	// Watch returns once key is watched, with a channel that is closed at
	// the key's first change (a write or a delete) after that, when the
	// watch fails, or when ctx ends. Changes made before Watch returned
	// are not reported. Cancel ctx to release the watch.
	Watch(ctx context.Context, key string) (<-chan struct{}, error)
}

// Elector is implemented by StateStores that can elect one leader among
// the processes that share them (statestore/etcd does, with an etcd
// election). The engine uses it so that one replica of a flow at a time
// runs the reconciler; without it, every process that runs one acts alone.
type Elector interface {
	// Lead blocks until this process leads the group name, or ctx ends.
	// The returned context ends when the leadership is lost or ctx ends;
	// release gives the leadership up.
	Lead(ctx context.Context, name string) (lead context.Context, release func(), err error)
}

// Closer is implemented by stores that hold connections. The runtime closes
// stores it created when it shuts down.
type Closer interface {
	Close() error
}
