package natsqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// startStream starts an embedded JetStream server with the queue's stream.
func startStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := testenv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: queuemsg.StreamName, Subjects: []string{queuemsg.SubjectPrefix + ">"},
		Retention: jetstream.WorkQueuePolicy, Duplicates: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	return js
}

func publish(t *testing.T, js jetstream.JetStream, req queuemsg.Request, callID string) {
	t.Helper()
	if err := natsqueue.NewPublisher(js, nil).Publish(context.Background(), req, callID); err != nil {
		t.Fatal(err)
	}
}

func TestPublishDeduplicatesByCallID(t *testing.T) {
	js := startStream(t)
	publish(t, js, queuemsg.Request{Function: "f"}, "same")
	publish(t, js, queuemsg.Request{Function: "f"}, "same")
	publish(t, js, queuemsg.Request{Function: "f"}, "other")
	s, err := js.Stream(context.Background(), queuemsg.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(context.Background())
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2", info.State.Msgs)
	}
	big := queuemsg.Request{Function: "f", Body: []byte(strings.Repeat("x", queuemsg.MaxBodyBytes+1))}
	if err := natsqueue.NewPublisher(js, nil).Publish(context.Background(), big, ""); err == nil {
		t.Fatal("oversized body accepted")
	}
}
