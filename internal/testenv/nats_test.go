package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func natsConnect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// fetchOne pulls one message from the durable consumer and acks it.
func fetchOne(ctx context.Context, t *testing.T, js jetstream.JetStream, stream, durable string) jetstream.Msg {
	t.Helper()
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:   durable,
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	if err := batch.Error(); err != nil {
		t.Fatalf("fetch batch: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("fetched %d messages, want 1", len(got))
	}
	if err := got[0].DoubleAck(ctx); err != nil {
		t.Fatalf("ack: %v", err)
	}
	return got[0]
}

func TestNATSJetStreamPublishesAndDeliversAMessage(t *testing.T) {
	srv := NATS(t)
	if !strings.HasPrefix(srv.URL, "nats://127.0.0.1:") {
		t.Fatalf("URL = %q, want nats://127.0.0.1:PORT", srv.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := natsConnect(t, srv.URL)

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "HOPS",
		Subjects: []string{"hops.>"},
		Storage:  jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "hops.flow1", []byte("hop-1"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != "HOPS" || ack.Sequence != 1 {
		t.Fatalf("publish ack = %+v, want stream HOPS sequence 1", ack)
	}
	m := fetchOne(ctx, t, js, "HOPS", "worker")
	if string(m.Data()) != "hop-1" || m.Subject() != "hops.flow1" {
		t.Fatalf("got %q on %s, want hop-1 on hops.flow1", m.Data(), m.Subject())
	}
	cons, err := js.Consumer(ctx, "HOPS", "worker")
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 || info.AckFloor.Stream != 1 {
		t.Fatalf("after ack: pending %d, ack pending %d, ack floor %d; want 0, 0, 1",
			info.NumPending, info.NumAckPending, info.AckFloor.Stream)
	}
}

func TestNATSRestartKeepsPortAndJetStreamData(t *testing.T) {
	srv := NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, js := natsConnect(t, srv.URL)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "Q", Subjects: []string{"q"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "q", []byte("before-restart")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	url := srv.URL

	srv.Shutdown()
	if srv.Server() != nil {
		t.Fatal("Server() after Shutdown is not nil")
	}
	srv.Shutdown() // a second Shutdown is harmless
	if _, err := nats.Connect(url, nats.Timeout(time.Second)); err == nil {
		t.Fatal("connected to a shut-down server")
	}

	srv.Restart()
	if srv.URL != url {
		t.Fatalf("URL changed across restart: %s -> %s", url, srv.URL)
	}
	// The first client reconnects by itself to the same address.
	deadline := time.Now().Add(20 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("client did not reconnect to %s after restart (status %v)", url, nc.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := fetchOne(ctx, t, js, "Q", "after-restart")
	if string(m.Data()) != "before-restart" {
		t.Fatalf("message after restart = %q, want before-restart", m.Data())
	}
}
