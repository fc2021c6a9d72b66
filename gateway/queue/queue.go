package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// DurableName is the name of the workers' durable consumer.
const DurableName = "faas-workers"

// StreamOptions configure the stream.
type StreamOptions struct {
	// Memory selects memory storage (default: file storage).
	Memory bool
	// MaxAge drops messages older than this (default: keep until acked).
	MaxAge time.Duration
	// Duplicates is the de-duplication window for Nats-Msg-Id (default 2m).
	Duplicates time.Duration
}

// EnsureStream creates or updates the faas-request work-queue stream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Stream, error) {
	storage := jetstream.FileStorage
	if o.Memory {
		storage = jetstream.MemoryStorage
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        queuemsg.StreamName,
		Description: "faas-flow local gateway async requests",
		Subjects:    []string{queuemsg.SubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     storage,
		MaxAge:      o.MaxAge,
		Duplicates:  o.Duplicates,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: create stream %s: %w", queuemsg.StreamName, err)
	}
	return s, nil
}
