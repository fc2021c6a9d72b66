package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/faas-flow/faas-flow/sdk"
)

// errClass says whether and how an error may be retried.
type errClass int

const (
	// permanent errors are returned as they are (bad request, auth,
	// compare failures reported as errors).
	permanent errClass = iota
	// unsent errors prove the request was not applied: retry any call.
	unsent
	// ambiguous errors are transient, but the request may have been
	// applied: retry only idempotent calls.
	ambiguous
)

// retrySafe marks an error from a step that changes nothing visible (a lease
// grant), so even a non-idempotent call may retry it.
type retrySafe struct{ err error }

func (e retrySafe) Error() string { return e.err.Error() }
func (e retrySafe) Unwrap() error { return e.err }

// classify sorts an etcd client error.
func classify(err error) errClass {
	var safe retrySafe
	isSafe := errors.As(err, &safe)
	c := classifyRaw(err)
	if isSafe && c == ambiguous {
		return unsent
	}
	return c
}

func classifyRaw(err error) errClass {
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader),
		errors.Is(err, rpctypes.ErrTooManyRequests),
		errors.Is(err, rpctypes.ErrNotCapable):
		// Refused before the request was proposed.
		return unsent
	case errors.Is(err, context.DeadlineExceeded):
		return ambiguous
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		if ee.Code() == codes.Unavailable {
			return ambiguous // leader changed, server stopped, request timed out
		}
		return permanent
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable:
			msg := st.Message()
			if msg == "there is no address available" || msg == "there is no connection available" {
				return unsent
			}
			return ambiguous
		case codes.DeadlineExceeded, codes.Aborted:
			return ambiguous
		}
	}
	return permanent
}

// call runs fn with the per-call timeout and retries transient failures with
// jittered exponential backoff. idempotent calls (reads, deletes) are retried
// on any transient error; others only when the request was provably not
// applied.
func (s *Store) call(ctx context.Context, op, key string, idempotent bool, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return s.fail(op, key, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	backoff := s.opts.Retry.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := fn(cctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// The caller gave up (or its own deadline passed).
			return s.fail(op, key, ctx.Err())
		}
		if cctx.Err() != nil {
			return s.unavailable(op, key, fmt.Errorf("no answer within %v: %w", s.opts.RequestTimeout, err))
		}
		switch class := classify(err); {
		case errors.Is(err, rpctypes.ErrNoSpace):
			// Refused before it was applied, but retrying will not help
			// until an operator frees space.
			return s.unavailable(op, key, fmt.Errorf("etcd is out of space (compact its history, defragment it, then disarm the NOSPACE alarm): %w", err))
		case class == permanent:
			return s.fail(op, key, err)
		case class == ambiguous && !idempotent:
			return s.unavailable(op, key, fmt.Errorf("outcome unknown, not retried: %w", err))
		case attempt >= s.opts.Retry.MaxAttempts:
			return s.unavailable(op, key, fmt.Errorf("after %d attempts: %w", attempt, err))
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-cctx.Done():
			if ctx.Err() != nil {
				return s.fail(op, key, ctx.Err())
			}
			return s.unavailable(op, key, fmt.Errorf("no answer within %v: %w", s.opts.RequestTimeout, err))
		}
		backoff = min(2*backoff, s.opts.Retry.MaxBackoff)
	}
}

// fail wraps err with the store and operation. A caller deadline that
// passed while waiting for etcd also counts as unavailability.
func (s *Store) fail(op, key string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return s.unavailable(op, key, err)
	}
	return fmt.Errorf("%s: %s %q: %w", s.where, op, key, err)
}

func (s *Store) unavailable(op, key string, err error) error {
	return fmt.Errorf("%s: %s %q: %w: %w", s.where, op, key, sdk.ErrStoreUnavailable, err)
}

// diagnose probes each endpoint directly to explain why the client got no
// answer: nothing listening, TLS where plain text was expected, or the
// reverse. It returns "" when it finds nothing specific.
func diagnose(eps []string, tlsCfg *tls.Config) string {
	var notes []string
	for _, ep := range eps {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			continue
		}
		host := u.Host
		conn, err := net.DialTimeout("tcp", host, time.Second)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: nothing listening (%v)", host, err))
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		if tlsCfg != nil {
			cfg := tlsCfg.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = u.Hostname()
			}
			if err := tls.Client(conn, cfg).Handshake(); err != nil {
				notes = append(notes, fmt.Sprintf("%s: TLS handshake failed (%v); is the server plain http, or the CA wrong?", host, err))
			}
		} else {
			probe := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // only detects whether the server speaks TLS
			if tls.Client(conn, probe).Handshake() == nil {
				notes = append(notes, fmt.Sprintf("%s: the server speaks TLS but the client is configured for plain http; use an https:// endpoint and the TLS options", host))
			}
		}
		_ = conn.Close()
	}
	return strings.Join(notes, "; ")
}
