package natsqueue_test

import (
	"context"
	"errors"
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

// startBoundedStream is startStream with at most max messages per subject,
// refusing new ones past it.
func startBoundedStream(t *testing.T, max int64) jetstream.JetStream {
	t.Helper()
	js := testenv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: queuemsg.StreamName, Subjects: []string{queuemsg.SubjectPrefix + ">"},
		Retention: jetstream.WorkQueuePolicy, Duplicates: time.Minute,
		MaxMsgsPerSubject: max, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
	}); err != nil {
		t.Fatal(err)
	}
	return js
}

func TestPublishPastTheFunctionsBoundFailsWithErrQueueFull(t *testing.T) {
	js := startBoundedStream(t, 2)
	p := natsqueue.NewPublisher(js, nil)
	ctx := context.Background()
	publish(t, js, queuemsg.Request{Function: "f"}, "a")
	publish(t, js, queuemsg.Request{Function: "f.openfaas-fn"}, "b")
	tests := []struct {
		name     string
		req      queuemsg.Request
		callID   string
		wantFull bool
	}{
		{"a third call of the function, under either spelling", queuemsg.Request{Function: "f"}, "c", true},
		{"the same under its namespace", queuemsg.Request{Function: "f.openfaas-fn"}, "d", true},
		{"a call already stored, published again", queuemsg.Request{Function: "f"}, "a", false},
		{"a call of another function", queuemsg.Request{Function: "g"}, "e", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Publish(ctx, tc.req, tc.callID)
			if full := errors.Is(err, natsqueue.ErrQueueFull); full != tc.wantFull || (!tc.wantFull && err != nil) {
				t.Fatalf("Publish = %v; want ErrQueueFull: %v", err, tc.wantFull)
			}
		})
	}
}

func TestQueuedCountsAFunctionsCallsUnderEitherSpelling(t *testing.T) {
	js := startBoundedStream(t, 10)
	p := natsqueue.NewPublisher(js, nil)
	ctx := context.Background()
	publish(t, js, queuemsg.Request{Function: "f"}, "a")
	publish(t, js, queuemsg.Request{Function: "f.openfaas-fn"}, "b")
	publish(t, js, queuemsg.Request{Function: "g"}, "c")
	tests := []struct {
		fn   string
		want uint64
	}{{"f", 2}, {"f.openfaas-fn", 2}, {"g", 1}, {"h", 0}}
	for _, tc := range tests {
		got, err := p.Queued(ctx, tc.fn)
		if err != nil || got != tc.want {
			t.Errorf("Queued(%q) = %d, %v; want %d", tc.fn, got, err, tc.want)
		}
	}
}
