package sdk

import (
	"context"
	"errors"
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

// SwapReader is implemented by StateStores that can read a key in the same
// atomic step as a compare-and-swap of another. It is optional: the engine
// uses it, when present, to claim a node and read its request's record in
// one round trip instead of two (etcd: one transaction).
type SwapReader interface {
	// CompareAndSwapRead is CompareAndSwap of key that also returns readKey
	// as it is at the moment of the swap, whether or not the swap happened.
	// The read entry has a nil Value and Version 0 when readKey does not
	// exist.
	CompareAndSwapRead(ctx context.Context, key string, version int64, value []byte, ttl time.Duration, readKey string) (SwapRead, error)
}

// SwapRead is the result of SwapReader.CompareAndSwapRead.
type SwapRead struct {
	// Swapped reports whether the swap happened; Version is then the new
	// version of key.
	Swapped bool
	Version int64
	// Read is readKey's entry (Version 0: it does not exist).
	Read KV
}

// Counter is implemented by StateStores that can count the keys under a
// prefix without reading their values. It is optional: the engine uses it,
// when present, to check whether a join or a foreach has all its arrivals
// (most checks find it has not), and lists the keys otherwise.
type Counter interface {
	// Count returns how many live keys start with prefix, as List would.
	Count(ctx context.Context, prefix string) (int, error)
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

// Closer is implemented by stores that hold connections. The runtime closes
// stores it created when it shuts down.
type Closer interface {
	Close() error
}
