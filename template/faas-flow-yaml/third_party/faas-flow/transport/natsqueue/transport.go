package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// ErrNotPublished is wrapped by Send errors: the queue did not take the hop.
var ErrNotPublished = errors.New("hop was not published to the queue")

// headerRequestID names the request on the hop's call, as on every call of
// the flow function.
const headerRequestID = "X-Faas-Flow-Reqid"

// Transport carries hops to a flow by publishing them to the JetStream
// queue (stream faas-request, subject faas-request.<flow>) in the format
// the gateway's async endpoint would have queued them in. The queue worker
// then calls the flow's /flow/<id>/forward route as for any queued call.
type Transport struct {
	url     string
	flow    string
	timeout time.Duration
	nc      *nats.Conn
	pub     *Publisher
}

// NewTransport connects to the NATS server at natsURL for flow. The
// connection is made in the background and made again whenever it drops, so
// a flow starts while NATS is still coming up; Send retries until timeout
// (default 15s) meanwhile. opts are added to the connection's (for example
// nats.UserInfo when the server wants a login).
func NewTransport(natsURL, flow string, timeout time.Duration, opts ...nats.Option) (*Transport, error) {
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	nc, err := nats.Connect(natsURL, append([]nats.Option{
		nats.Name("faasflow-flow-" + flow),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %q: %w", redactURLs(natsURL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Transport{url: redactURLs(natsURL), flow: flow, timeout: timeout, nc: nc, pub: NewPublisher(js, nil)}, nil
}

// Send implements engine.Transport. A failed publish (no connection, no
// answer from JetStream) is retried with backoff until the timeout; a hop
// too large for the queue fails at once with queuemsg.ErrTooLarge, and a
// hop the queue refuses because the flow's calls fill their share of it
// fails at once with ErrQueueFull: waiting would hold this invocation, and
// the queue worker running it, while the backlog it waits on needs the
// worker to drain. The engine keeps a hop it could not send in its node's
// record, and its reconciler sends it again once it has stalled. The
// message id stays the same across retries, so JetStream stores the hop
// once even when an acknowledgement was lost.
func (t *Transport) Send(ctx context.Context, requestID string, hop []byte) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	callID := nuid.Next()
	req := queuemsg.Request{
		Function: t.flow,
		Method:   http.MethodPost,
		Path:     "/flow/" + url.PathEscape(requestID) + "/forward",
		Body:     hop,
		Header: http.Header{
			"Content-Type":           {"application/json"},
			headerRequestID:          {requestID},
			queuemsg.HeaderCallID:    {callID},
			queuemsg.HeaderStartTime: {fmt.Sprint(time.Now().UnixNano())},
		},
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 50*time.Millisecond, time.Second
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = t.pub.Publish(ctx, req, callID)
		if errors.Is(last, queuemsg.ErrTooLarge) || errors.Is(last, ErrQueueFull) {
			return struct{}{}, backoff.Permanent(last)
		}
		return struct{}{}, last
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil {
		if last != nil && !errors.Is(err, last) {
			err = errors.Join(last, err)
		}
		return fmt.Errorf("%w: NATS %s: %w", ErrNotPublished, t.url, err)
	}
	return nil
}

// Close closes the connection; every Send has waited for its
// acknowledgement, so nothing is left to flush.
func (t *Transport) Close() error {
	t.nc.Close()
	return nil
}
