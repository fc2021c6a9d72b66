package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// Request states reported in Context.State, as in faas-flow.
const (
	StateOngoing = "ongoing"
	StateSuccess = "success"
	StateFailure = "failure"
)

// ErrKeyNotFound is returned (wrapped) by the Context getters for a key that
// was never set or was deleted.
var ErrKeyNotFound = errors.New("context key not found")

// ErrTypeMismatch is returned (wrapped) by a typed getter when the stored
// value has another type.
var ErrTypeMismatch = errors.New("context value has another type")

// ValueStore keeps the values of one request's Context. The engine binds it
// to the request's namespace in the DataStore (or to memory for a flow that
// runs in one call).
type ValueStore interface {
	Put(ctx context.Context, key string, value []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
}

// Context is the request context handed to Define and captured by its
// closures. It carries the request id, the original query, the request state,
// the inputs of a join node, and a key-value store shared by all nodes of the
// request.
type Context struct {
	// Query is the query string of the request that started the flow.
	Query url.Values
	// State is StateOngoing while nodes run, then StateSuccess or
	// StateFailure (seen by Finally and OnFailure handlers).
	State string
	// NodeInput holds, for a join node, the input of each predecessor keyed
	// by predecessor name (before the aggregator ran).
	NodeInput map[string][]byte
	// Name is the flow's name.
	Name string

	requestID string
	node      string
	ctx       context.Context
	values    ValueStore
	faults    []Fault
}

// NewContext returns a Context for one invocation. Executors call it; users
// get theirs as Define's argument.
func NewContext(ctx context.Context, flowName, requestID string, query url.Values, values ValueStore) *Context {
	if query == nil {
		query = url.Values{}
	}
	return &Context{Query: query, State: StateOngoing, Name: flowName, requestID: requestID, ctx: ctx, values: values}
}

// SetNode records the node being executed (executors call it).
func (c *Context) SetNode(ctx context.Context, nodeID string) {
	c.ctx, c.node = ctx, nodeID
}

// GetRequestId returns the request id.
func (c *Context) GetRequestId() string { return c.requestID }

// GetNode returns the id of the node being executed, or "".
func (c *Context) GetNode() string { return c.node }

// GetPhase is kept for faas-flow compatibility and always returns 0.
//
// Deprecated: phases no longer exist.
func (c *Context) GetPhase() int { return 0 }

// Context returns the context.Context of the current invocation.
func (c *Context) Context() context.Context {
	if c.ctx == nil {
		return context.Background()
	}
	return c.ctx
}

// storedValue is the wire form of a Context value; T keeps the Go type so
// that Get returns what Set was given.
type storedValue struct {
	T string          `json:"t"`
	V json.RawMessage `json:"v"`
}

const valuePrefix = "ctx/"

// Set stores value under key for every later node of the request. Strings,
// []byte, bools and integers keep their type; any other value is stored as
// JSON and read back as its JSON decoding.
func (c *Context) Set(key string, value interface{}) error {
	if c.values == nil {
		return fmt.Errorf("faasflow: context Set(%q): no value store (Set is not available in Define)", key)
	}
	var sv storedValue
	var err error
	switch v := value.(type) {
	case string:
		sv.T = "string"
	case []byte:
		sv.T = "bytes"
	case bool:
		sv.T = "bool"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32:
		sv.T = "int"
	default:
		_ = v
		sv.T = "json"
	}
	if sv.V, err = json.Marshal(value); err != nil {
		return fmt.Errorf("faasflow: context Set(%q): %w", key, err)
	}
	b, err := json.Marshal(sv)
	if err != nil {
		return fmt.Errorf("faasflow: context Set(%q): %w", key, err)
	}
	if err := c.values.Put(c.Context(), valuePrefix+url.PathEscape(key), b); err != nil {
		return fmt.Errorf("faasflow: context Set(%q): %w", key, err)
	}
	return nil
}

// Get returns the value stored under key, or an error wrapping
// ErrKeyNotFound.
func (c *Context) Get(key string) (interface{}, error) {
	sv, err := c.load(key)
	if err != nil {
		return nil, err
	}
	switch sv.T {
	case "string":
		var s string
		err = json.Unmarshal(sv.V, &s)
		return s, err
	case "bytes":
		var b []byte
		err = json.Unmarshal(sv.V, &b)
		return b, err
	case "bool":
		var b bool
		err = json.Unmarshal(sv.V, &b)
		return b, err
	case "int":
		var i int
		err = json.Unmarshal(sv.V, &i)
		return i, err
	default:
		var v interface{}
		err = json.Unmarshal(sv.V, &v)
		return v, err
	}
}

func (c *Context) load(key string) (storedValue, error) {
	var sv storedValue
	if c.values == nil {
		return sv, fmt.Errorf("faasflow: context Get(%q): no value store: %w", key, ErrKeyNotFound)
	}
	b, err := c.values.Get(c.Context(), valuePrefix+url.PathEscape(key))
	if errors.Is(err, ErrNotFound) {
		return sv, fmt.Errorf("faasflow: context key %q: %w", key, ErrKeyNotFound)
	}
	if err != nil {
		return sv, fmt.Errorf("faasflow: context Get(%q): %w", key, err)
	}
	if err := json.Unmarshal(b, &sv); err != nil {
		return sv, fmt.Errorf("faasflow: context Get(%q): corrupt value: %w", key, err)
	}
	return sv, nil
}

func lookup[T any](c *Context, key, want string) (T, error) {
	var zero T
	v, err := c.Get(key)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("faasflow: context key %q holds %T, not %s: %w", key, v, want, ErrTypeMismatch)
	}
	return t, nil
}

// LookupString returns the string stored under key.
func (c *Context) LookupString(key string) (string, error) { return lookup[string](c, key, "string") }

// LookupInt returns the integer stored under key.
func (c *Context) LookupInt(key string) (int, error) { return lookup[int](c, key, "int") }

// LookupBool returns the bool stored under key.
func (c *Context) LookupBool(key string) (bool, error) { return lookup[bool](c, key, "bool") }

// LookupBytes returns the []byte stored under key. A stored string is
// returned as its bytes.
func (c *Context) LookupBytes(key string) ([]byte, error) {
	v, err := c.Get(key)
	if err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case []byte:
		return t, nil
	case string:
		return []byte(t), nil
	}
	return nil, fmt.Errorf("faasflow: context key %q holds %T, not []byte: %w", key, v, ErrTypeMismatch)
}

// GetString returns the string under key, or "" when it is missing or not a
// string. It never panics (faas-flow's did).
//
// Deprecated: use LookupString, which reports why a value is missing.
func (c *Context) GetString(key string) string { s, _ := c.LookupString(key); return s }

// GetInt returns the integer under key, or 0.
//
// Deprecated: use LookupInt.
func (c *Context) GetInt(key string) int { i, _ := c.LookupInt(key); return i }

// GetBool returns the bool under key, or false.
//
// Deprecated: use LookupBool.
func (c *Context) GetBool(key string) bool { b, _ := c.LookupBool(key); return b }

// GetBytes returns the []byte under key, or nil.
//
// Deprecated: use LookupBytes.
func (c *Context) GetBytes(key string) []byte { b, _ := c.LookupBytes(key); return b }

// Del deletes key.
func (c *Context) Del(key string) error {
	if c.values == nil {
		return nil
	}
	if err := c.values.Delete(c.Context(), valuePrefix+url.PathEscape(key)); err != nil {
		return fmt.Errorf("faasflow: context Del(%q): %w", key, err)
	}
	return nil
}
