package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Completion events (docs/events.md): flows publish every request's end on
// EventsSubjectPrefix.<flow>.request.<state> (and, with events_nodes, every
// node attempt on ....node.<state>); the local gateway keeps them in the
// stream EventsStreamName, so a subscriber with a durable consumer that was
// down catches up when it comes back.
const (
	EventsStreamName    = "FAASFLOW_EVENTS"
	EventsSubjectPrefix = "faasflow.events"
)

// Defaults of the events stream's limits (LocalOptions.Events*).
const (
	DefaultEventsMaxAge    = 7 * 24 * time.Hour
	DefaultEventsMaxBytes  = 1 << 30
	DefaultEventsDuplicate = 10 * time.Minute
)

// ensureEventsStream creates or updates the events stream: limits
// retention (an event stays until it is older than maxAge or the stream
// holds more than maxBytes, the oldest going first), whatever the
// consumers have read, and a duplicate window of dup (an end reported
// twice with the same Nats-Msg-Id within it is stored once).
func ensureEventsStream(ctx context.Context, js jetstream.JetStream, maxAge time.Duration, maxBytes int64, dup time.Duration) error {
	dup = min(dup, maxAge)
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        EventsStreamName,
		Description: "faas-flow completion events",
		Subjects:    []string{EventsSubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		MaxAge:      maxAge,
		MaxBytes:    maxBytes,
		Duplicates:  dup,
	})
	if err != nil {
		return fmt.Errorf("events: create stream %s: %w", EventsStreamName, err)
	}
	return nil
}
