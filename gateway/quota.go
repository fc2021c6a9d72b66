package gateway

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// queueRetryAfter is the Retry-After, in seconds, of an async call refused
// because its function's calls fill their share of the queue.
const queueRetryAfter = 5

// admitAsync reports whether a new async call of function raw may be
// queued: when QueueAdmitBelow is set and raw already has that many calls
// queued, it answers 429 with Retry-After and reports false. The gateway
// asks twice: before reading the body (the answer then closes the
// connection, the body unread) and, with hold, once the body is read:
// the call then holds its function's admission lock until unlock, to be
// called once it is published (or not), so that calls admitted at once
// cannot pass the threshold together. A queue it cannot ask lets the
// call through: the stream's own bound still holds.
func (s *Server) admitAsync(ctx context.Context, w http.ResponseWriter, r *http.Request, raw, name string, hold bool) (unlock func(), ok bool) {
	if s.opts.QueueAdmitBelow <= 0 {
		return func() {}, true
	}
	unlock = func() {}
	if hold {
		mu := &s.admission[admissionStripe(queuemsg.Subject(raw))]
		mu.Lock()
		unlock = mu.Unlock
	}
	n, err := s.opts.Publisher.Queued(ctx, raw)
	if err != nil {
		s.opts.Logger.Warn("queue: cannot count a function's queued calls", "function", raw, "err", err)
		return unlock, true
	}
	if int64(n) < s.opts.QueueAdmitBelow {
		return unlock, true
	}
	unlock()
	if !hold && r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	s.refuseQueueFull(w, name, fmt.Sprintf("function %s has %d calls queued, as many as new calls may fill", raw, n))
	return nil, false
}

// admissionStripes is the number of locks admitAsync spreads functions
// over: a fixed number, whatever the number of functions.
const admissionStripes = 64

// admissionStripe is the lock of subject among admissionStripes.
func admissionStripe(subject string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(subject))
	return int(h.Sum32() % admissionStripes)
}

// refuseQueueFull answers 429 with Retry-After to an async call of a
// function whose share of the queue is full.
func (s *Server) refuseQueueFull(w http.ResponseWriter, name, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(queueRetryAfter))
	httpError(w, http.StatusTooManyRequests, msg+"; try again later")
	s.metrics.invocations.WithLabelValues(name+"."+api.DefaultNamespace, "429").Inc()
}

// publishRefused answers a call the queue did not store: 429 when the
// stream refused it for its function's bound, else 500.
func (s *Server) publishRefused(w http.ResponseWriter, name string, err error) {
	if errors.Is(err, natsqueue.ErrQueueFull) {
		s.refuseQueueFull(w, name, "the function's calls fill its share of the queue")
		return
	}
	httpError(w, http.StatusInternalServerError, "error queuing request: "+err.Error())
}

// QueueAdmitBelow is the number of queued calls of a function from which
// faasflow up refuses new async calls, for a stream bound of bound calls
// per function: three quarters of it, rounded down, and at least 1. The
// rest is left to the hops of flow requests already running, so that a
// flood of new requests cannot hold up those already accepted. 0 when
// bound is (unbounded).
func QueueAdmitBelow(bound int64) int64 {
	if bound <= 0 {
		return 0
	}
	return max(1, bound-(bound+3)/4)
}
