package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// DurableName is the name of the single durable consumer earlier versions
// of the worker read every subject with. The worker now reads each
// function's subject through a consumer of its own, named DurableName-<the
// subject's last token> (see laneName), and removes this one when it
// starts.
const DurableName = "faas-workers"

// StreamOptions configure the stream.
type StreamOptions struct {
	// Memory selects memory storage (default: file storage).
	Memory bool
	// MaxAge drops messages older than this (default: keep until acked).
	MaxAge time.Duration
	// Duplicates is the de-duplication window for Nats-Msg-Id (default 2m).
	Duplicates time.Duration
	// MaxPerSubject bounds the calls queued for one function (one subject),
	// counting those delivered and not yet acknowledged: JetStream refuses
	// a publish past it (natsqueue.ErrQueueFull), and keeps what it holds.
	// 0 or less: unbounded.
	MaxPerSubject int64
	// Logger receives a warning when the stream holds more calls of a
	// function than MaxPerSubject (nil: discarded).
	Logger *slog.Logger
}

// EnsureStream creates or updates the faas-request work-queue stream.
//
// A stream that already holds more calls of one function than
// MaxPerSubject is given that function's count as its bound instead, with
// a warning: JetStream would otherwise delete the oldest calls above the
// new bound. The bound asked for then applies from the next start.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Stream, error) {
	storage := jetstream.FileStorage
	if o.Memory {
		storage = jetstream.MemoryStorage
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
	cfg := jetstream.StreamConfig{
		Name:        queuemsg.StreamName,
		Description: "faas-flow local gateway async requests",
		Subjects:    []string{queuemsg.SubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     storage,
		MaxAge:      o.MaxAge,
		Duplicates:  o.Duplicates,
	}
	if o.MaxPerSubject > 0 {
		bound, err := safeBound(ctx, js, o)
		if err != nil {
			return nil, err
		}
		cfg.MaxMsgsPerSubject, cfg.Discard, cfg.DiscardNewPerSubject = bound, jetstream.DiscardNew, true
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("queue: create stream %s: %w", queuemsg.StreamName, err)
	}
	return s, nil
}

// safeBound is o.MaxPerSubject, or the largest number of calls the
// existing stream holds for one function when that is more.
func safeBound(ctx context.Context, js jetstream.JetStream, o StreamOptions) (int64, error) {
	s, err := js.Stream(ctx, queuemsg.StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return o.MaxPerSubject, nil
	}
	if err != nil {
		return 0, fmt.Errorf("queue: stream %s: %w", queuemsg.StreamName, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(queuemsg.SubjectPrefix+">"))
	if err != nil {
		return 0, fmt.Errorf("queue: stream %s: %w", queuemsg.StreamName, err)
	}
	bound := o.MaxPerSubject
	var over []string
	for subj, n := range info.State.Subjects {
		if int64(n) > o.MaxPerSubject {
			bound = max(bound, int64(n))
			over = append(over, fmt.Sprintf("%s (%d)", strings.TrimPrefix(subj, queuemsg.SubjectPrefix), n))
		}
	}
	if len(over) > 0 {
		logger := o.Logger
		if logger == nil {
			logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		logger.Warn("queue: functions hold more queued calls than the bound; it is raised to keep them until the next start",
			"bound", o.MaxPerSubject, "raised_to", bound, "functions", strings.Join(over, ", "))
	}
	return bound, nil
}
