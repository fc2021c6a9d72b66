package queue

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// callPatiently makes the call of req, keeping msg alive with in-progress
// acks. While the function answers 429 (it runs as many requests as it
// takes), the call gives its slot back, waits for the Retry-After of the
// answer (else a growing backoff), with some jitter, and is made again: a
// busy function spends none of the message's attempts, so a flood on a
// bounded flow cannot make the queue give up calls it accepted. The lane
// goes on fetching meanwhile: a flow's own hops, queued behind starts it
// refused, must reach it for its running requests to end. It stops waiting
// when the worker stops, returning the last 429; the message is then put
// back in the stream.
func (w *Worker) callPatiently(ctx context.Context, msg jetstream.Msg, req queuemsg.Request, t *turn, attempt int) result {
	stopBeat := w.heartbeat(msg)
	defer stopBeat()
	for busy := attempt; ; busy++ {
		res := w.call(ctx, req)
		if res.err != nil || res.status != http.StatusTooManyRequests {
			return res
		}
		delay := w.backoff(busy)
		if d, ok := retryAfter(res.header.Get("Retry-After"), time.Now()); ok {
			d = max(d, w.opts.InitialRetryWait/2)
			delay = d + time.Duration(rand.Int64N(int64(d/5)+1))
		}
		w.processed.WithLabelValues(req.Function, "busy").Inc()
		w.opts.Logger.Debug("queue: function busy; waiting to call it again", "function", req.Function, "in", delay)
		t.release()
		sleep(w.stopping, delay)
		if w.stopping.Err() != nil || !t.acquire(w.stopping) {
			return res
		}
	}
}
