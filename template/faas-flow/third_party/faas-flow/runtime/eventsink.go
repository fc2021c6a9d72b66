package runtime

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsEventSink publishes events to JetStream: the stream that holds the
// subject stores each one, once per Nats-Msg-Id within its duplicate
// window, before the publish is acknowledged.
type natsEventSink struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	key []byte
}

// newNATSEventSink connects to url (comma-separated for a cluster).
func newNATSEventSink(url string, key []byte, opts ...nats.Option) (*natsEventSink, error) {
	opts = append([]nats.Option{nats.Name("faasflow-events"), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &natsEventSink{nc: nc, js: js, key: key}, nil
}

func (s *natsEventSink) name() string { return "nats" }

func (s *natsEventSink) publish(ctx context.Context, out *outgoingEvent) error {
	msg := nats.NewMsg(out.subject)
	msg.Data = out.body
	msg.Header.Set("Content-Type", "application/json")
	for k, v := range signedHeaders(s.key, time.Now(), out) {
		msg.Header.Set(k, v)
	}
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(out.msgID)); err != nil {
		return fmt.Errorf("publish %s: %w", out.subject, err)
	}
	return nil
}

func (s *natsEventSink) close() error {
	if err := s.nc.Drain(); err != nil {
		s.nc.Close()
	}
	return nil
}

// httpEventSink POSTs events as JSON to a URL.
type httpEventSink struct {
	url    string
	client *http.Client
	key    []byte
}

func (s *httpEventSink) name() string { return "http " + redactURL(s.url) }

func (s *httpEventSink) publish(ctx context.Context, out *outgoingEvent) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(out.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range signedHeaders(s.key, time.Now(), out) {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	ex := readExcerpt(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return fmt.Errorf("%s answered %d: %s", redactURL(s.url), resp.StatusCode, ex)
}

func (s *httpEventSink) close() error { return nil }

// openEvents returns the publisher of the completion events cfg asks for
// (nil when it asks for none).
func openEvents(cfg Config, o *Options) (*EventPublisher, error) {
	var sinks []eventSink
	if cfg.Events.NATSURL != "" {
		var login []nats.Option
		if cfg.NATSPassword != "" {
			user := cfg.NATSUser
			if user == "" {
				user = defaultNATSUser
			}
			login = append(login, nats.UserInfo(user, cfg.NATSPassword))
		}
		s, err := newNATSEventSink(cfg.Events.NATSURL, cfg.HMACSecret, login...)
		if err != nil {
			return nil, fmt.Errorf("%w: events_nats_url: %w", ErrInvalidConfig, err)
		}
		sinks = append(sinks, s)
	}
	if cfg.Events.URL != "" {
		sinks = append(sinks, &httpEventSink{url: cfg.Events.URL, client: o.HTTPClient, key: cfg.HMACSecret})
	}
	if len(sinks) == 0 {
		return nil, nil
	}
	return newEventPublisher(eventOptions{
		sinks: sinks, prefix: cfg.Events.SubjectPrefix, nodes: cfg.Events.Nodes,
		attempts: cfg.CallbackAttempts, timeout: min(max(cfg.CallbackTimeout, time.Second), 5*time.Second), log: o.Logger,
	}), nil
}
