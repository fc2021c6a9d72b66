package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EnvelopeVersion is the version of the hop envelope this package writes
// and reads. Version 2 added the request's incarnation.
const EnvelopeVersion = 2

// Envelope is one hop event: the instruction to run a node instance of a
// request. It is carried as the body of POST /flow/<id>/forward, signed with
// HMAC-SHA256 over the exact bytes of the "hop" member (see SignedHop).
// docs/hop-envelope.md documents every field; golden files pin the encoding.
type Envelope struct {
	Version   int    `json:"v"`
	Flow      string `json:"flow"`
	RequestID string `json:"request_id"`
	// Incarnation names the use of the request id the hop belongs to; a
	// hop of an earlier request that had the same id is dropped.
	Incarnation string `json:"inc"`
	// DefHash is the definition hash of the flow that emitted the hop; a
	// redeployed flow with another structure rejects it.
	DefHash string `json:"def_hash"`
	// HopID is the idempotency key of the hop: the same target instance of
	// the same request always gets the same id.
	HopID string `json:"hop_id"`
	// Cursor is the node instance to run: the path of composite nodes (with
	// the branch key of conditional and foreach nodes) down to the node.
	Cursor []Frame `json:"cursor"`
	// NodeVersion is the StateStore version of the target's pending record
	// when the hop was emitted; the receiver claims the node with one
	// compare-and-swap on it (and falls back to reading the record).
	NodeVersion int64 `json:"node_version,omitempty"`
	// Join, when set, names the join node instance whose recorded inputs make
	// up this node's input (the target itself, or the sub-DAG it starts).
	Join string `json:"join,omitempty"`
	// Data is the input, inline. DataRef names it in the DataStore instead
	// when it is larger than the inline limit.
	Data    []byte `json:"data,omitempty"`
	DataRef string `json:"data_ref,omitempty"`
	// NoData marks an input that is deliberately empty (execution-only edge).
	NoData bool `json:"no_data,omitempty"`
	// Query is the raw query string of the request that started the flow.
	Query string `json:"query,omitempty"`
	// CallbackURL receives the final result.
	CallbackURL string `json:"callback_url,omitempty"`
	// Trace carries W3C trace context (traceparent, tracestate) of the
	// emitting node span, and "root" entries for the request span.
	Trace map[string]string `json:"trace,omitempty"`
	// Complete, on a hop to a conditional or foreach node, asks for the
	// node's completion once its branches have finished (the reconciler
	// sends it when nobody completed the node).
	Complete bool `json:"complete,omitempty"`
	// Redelivered counts the times the reconciler sent this hop again.
	Redelivered int `json:"redelivered,omitempty"`
	// IssuedAt is when the hop was signed; hops older than the engine's
	// MaxHopAge, or dated later than its clock allows for, are rejected.
	IssuedAt time.Time `json:"issued_at"`
}

// Frame is one step of a cursor: a node name and, for a node inside a
// conditional or foreach branch, the branch key of the enclosing node.
type Frame struct {
	Node string `json:"node"`
	Key  string `json:"key,omitempty"`
	// Branches, on a frame with a Key, is how many branches the dynamic
	// node started. A finishing branch then reads the node's record only
	// once every branch may be done. It is a hint: not part of the
	// instance id, and 0 (unknown) means "read the record".
	Branches int `json:"branches,omitempty"`
}

// SignedHop is the wire form of a hop: the envelope's JSON bytes and their
// HMAC-SHA256. Verifying the raw bytes (not a re-encoding) makes the
// signature cover every field, present and future.
type SignedHop struct {
	Version   int             `json:"v"`
	Signature string          `json:"sig"`
	Hop       json.RawMessage `json:"hop"`
}

// Signature errors. All wrap ErrBadSignature so transports can answer 401.
var (
	ErrBadSignature   = errors.New("hop signature rejected")
	ErrMalformedHop   = errors.New("malformed hop")
	ErrUnsupportedHop = errors.New("unsupported hop envelope version")
)

// Signer signs and verifies hops with one HMAC key. A Signer with an empty
// key and Insecure set signs nothing and accepts unsigned hops (local
// experiments only).
type Signer struct {
	key      []byte
	insecure bool
}

// NewSigner returns a Signer for key. An empty key is an error unless
// insecure is true.
func NewSigner(key []byte, insecure bool) (*Signer, error) {
	if len(key) == 0 && !insecure {
		return nil, fmt.Errorf("%w: no HMAC key: set the secret faasflow-hmac-secret (or enable insecure mode for local experiments)", ErrConfig)
	}
	return &Signer{key: append([]byte(nil), key...), insecure: insecure && len(key) == 0}, nil
}

func (s *Signer) mac(b []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write(b)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Seal encodes and signs env.
func (s *Signer) Seal(env *Envelope) ([]byte, error) {
	hop, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode hop: %w", err)
	}
	sh := SignedHop{Version: EnvelopeVersion, Hop: hop}
	if !s.insecure {
		sh.Signature = s.mac(hop)
	}
	return json.Marshal(sh)
}

// Open verifies and decodes a sealed hop. It checks the signature in
// constant time before decoding anything else.
func (s *Signer) Open(body []byte) (*Envelope, error) {
	var sh SignedHop
	if err := json.Unmarshal(body, &sh); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedHop, err)
	}
	if sh.Version != EnvelopeVersion {
		return nil, fmt.Errorf("%w: %d (this engine reads %d)", ErrUnsupportedHop, sh.Version, EnvelopeVersion)
	}
	if len(sh.Hop) == 0 {
		return nil, fmt.Errorf("%w: no hop member", ErrMalformedHop)
	}
	if !s.insecure {
		if sh.Signature == "" {
			return nil, fmt.Errorf("%w: hop is not signed", ErrBadSignature)
		}
		if !hmac.Equal([]byte(sh.Signature), []byte(s.mac(sh.Hop))) {
			return nil, fmt.Errorf("%w: signature does not match", ErrBadSignature)
		}
	}
	var env Envelope
	if err := json.Unmarshal(sh.Hop, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedHop, err)
	}
	if env.Version != EnvelopeVersion {
		return nil, fmt.Errorf("%w: envelope %d", ErrUnsupportedHop, env.Version)
	}
	if env.RequestID == "" || env.Flow == "" || len(env.Cursor) == 0 || env.HopID == "" || env.Incarnation == "" {
		return nil, fmt.Errorf("%w: missing request_id, inc, flow, hop_id or cursor", ErrMalformedHop)
	}
	for _, f := range env.Cursor {
		if f.Node == "" {
			return nil, fmt.Errorf("%w: empty cursor frame", ErrMalformedHop)
		}
	}
	return &env, nil
}
