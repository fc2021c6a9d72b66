package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/queue"
)

// NATSTransport carries hops to the flow by publishing them straight to the
// faasflow local gateway's JetStream queue (stream faas-request, subject
// faas-request.<flow>), in the same QueueRequest format the gateway's
// asynchronous endpoint would have queued. The queue worker then invokes
// the flow's /flow/<id>/forward route exactly as for a hop posted through
// the gateway, with one HTTP round trip less per hop.
//
// It is selected with hop_transport=nats; the local gateway sets that (and
// nats_url) for the flows it runs.
type NATSTransport struct {
	url     string
	flow    string
	timeout time.Duration
	nc      *nats.Conn
	pub     *queue.Publisher
}

// NewNATSTransport connects to the NATS server at natsURL. The connection
// is made in the background and re-made whenever it drops, so a flow starts
// while NATS is still coming up; Forward retries until timeout (default
// 15s) meanwhile.
func NewNATSTransport(natsURL, flow string, timeout time.Duration) (*NATSTransport, error) {
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	nc, err := nats.Connect(natsURL,
		nats.Name("faasflow-flow-"+flow),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: nats_url %q: %w", ErrInvalidConfig, natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &NATSTransport{url: natsURL, flow: flow, timeout: timeout, nc: nc, pub: queue.NewPublisher(js, nil)}, nil
}

// Forward implements engine.Transport. Failed publishes (no connection, no
// JetStream answer) are retried with backoff until the timeout; a hop too
// large for the queue fails at once. The message id is the same across
// retries, so JetStream stores a hop once even if an acknowledgement was
// lost.
func (t *NATSTransport) Forward(ctx context.Context, requestID string, hop []byte) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	callID := nuid.Next()
	req := api.QueueRequest{
		Function: t.flow,
		Method:   http.MethodPost,
		Path:     "/flow/" + url.PathEscape(requestID) + "/forward",
		Body:     hop,
		Header: http.Header{
			"Content-Type":      {"application/json"},
			HeaderRequestID:     {requestID},
			api.HeaderCallID:    {callID},
			api.HeaderStartTime: {fmt.Sprint(time.Now().UnixNano())},
		},
	}
	err := retry(ctx, 50*time.Millisecond, time.Second, 0, func() (bool, error) {
		err := t.pub.Publish(ctx, req, callID)
		return err != nil && !errors.Is(err, queue.ErrTooLarge), err
	})
	if err != nil {
		return fmt.Errorf("%w: publish to NATS %s: %w", ErrForward, t.url, err)
	}
	return nil
}

// Close drains nothing (every Forward waited for its acknowledgement) and
// closes the connection.
func (t *NATSTransport) Close() error {
	t.nc.Close()
	return nil
}
