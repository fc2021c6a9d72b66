package flowfile

import (
	"context"
	"errors"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
	"gopkg.in/yaml.v3"
)

// retry decodes a Task's Retry: one retrier, since the engine keeps one
// retry policy per node.
func (d *decoder) retry(n *yaml.Node, at string) (*retrier, error) {
	items, err := d.list(n, at)
	if err != nil {
		return nil, err
	}
	if len(items) > 1 {
		return nil, d.errAt(items[1], at+"[1]", "only one retrier per state is supported: the engine keeps one retry policy per node")
	}
	at += "[0]"
	r := &retrier{interval: time.Second, maxAttempts: 3, backoff: 2}
	err = d.fields(items[0], at, func(key string, k, v *yaml.Node) error {
		f := join(at, key)
		var err error
		switch key {
		case "ErrorEquals":
			r.errors, err = d.errorEquals(v, f)
		case "IntervalSeconds":
			r.interval, err = d.seconds(v, f)
		case "MaxAttempts":
			r.maxAttempts, err = d.integer(v, f, 0, 100)
		case "BackoffRate":
			if r.backoff, err = d.number(v, f); err == nil && r.backoff < 1 {
				err = d.errAt(v, f, "must be at least 1.0")
			}
		case "MaxDelaySeconds":
			r.maxDelay, err = d.seconds(v, f)
		case "JitterStrategy":
			var s string
			if s, err = d.str(v, f); err == nil && s != "FULL" && s != "NONE" {
				err = d.errAt(v, f, "must be FULL or NONE")
			}
			r.jitter = s == "FULL"
		default:
			err = d.errAt(k, f, "unknown field (a retrier has ErrorEquals, IntervalSeconds, MaxAttempts, BackoffRate, MaxDelaySeconds, JitterStrategy)")
		}
		return err
	})
	if err == nil && r.errors == nil {
		err = d.errAt(items[0], join(at, "ErrorEquals"), "missing")
	}
	return r, err
}

// errorEquals decodes the error names a retrier matches.
func (d *decoder) errorEquals(n *yaml.Node, at string) ([]string, error) {
	items, err := d.list(n, at)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		s, err := d.str(it, at)
		if err != nil {
			return nil, err
		}
		switch s {
		case ErrorAll:
			if len(items) > 1 {
				return nil, d.errAt(it, at, "States.ALL must be the only error name")
			}
		case ErrorTaskFailed, ErrorTimeout:
		default:
			return nil, d.errAt(it, at, "error name %q is not supported (use States.ALL, States.TaskFailed or States.Timeout): functions report failures by HTTP status, without a name", s)
		}
		out = append(out, s)
	}
	return out, nil
}

// policy returns the retry policy of the retrier.
func (r *retrier) policy() sdk.RetryPolicy {
	p := sdk.RetryPolicy{
		MaxAttempts:        1 + r.maxAttempts,
		InitialInterval:    r.interval,
		BackoffCoefficient: r.backoff,
		MaxInterval:        r.maxDelay,
		Jitter:             -1,
		Retryable:          r.matches,
	}
	if p.MaxInterval == 0 {
		p.MaxInterval = 24 * time.Hour
	}
	if r.jitter {
		p.Jitter = 1
	}
	return p
}

// matches reports whether err is one the retrier retries.
func (r *retrier) matches(err error) bool {
	var se *StateError
	if errors.As(err, &se) || sdk.IsPermanent(err) {
		return false
	}
	timeout := errors.Is(err, sdk.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
	for _, name := range r.errors {
		switch {
		case name == ErrorAll, name == ErrorTimeout && timeout, name == ErrorTaskFailed && !timeout:
			return true
		}
	}
	return false
}
