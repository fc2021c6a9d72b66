package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// The worker reads each function's subject through a durable consumer of
// its own, a lane. Each lane takes one message at a time, and asks the
// worker's fairSlots for a slot to run it, handed out first come, first
// served: a function with a long backlog takes its turn behind every other
// function that waits, so its backlog cannot hold back their calls. The
// worker finds new subjects by looking at the stream every lanePoll.

// lanePoll is how often the worker looks for subjects without a lane.
const lanePoll = 200 * time.Millisecond

// laneFetchWait bounds one wait for a lane's next message.
const laneFetchWait = 5 * time.Second

// lane is the consumer of one function's subject.
type lane struct {
	subject string
	cons    jetstream.Consumer
}

// turn is a call's hold on one of the worker's slots.
type turn struct {
	slots *fairSlots
	held  bool
}

// release gives the slot back, if held.
func (t *turn) release() {
	if t.held {
		t.slots.release()
		t.held = false
	}
}

// acquire waits for a slot unless one is held; false when ctx ended first.
func (t *turn) acquire(ctx context.Context) bool {
	if !t.held {
		t.held = t.slots.acquire(ctx)
	}
	return t.held
}

var simpleToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// laneName is the durable name of subject's consumer: DurableName-<the
// subject's last token>, or, for a subject no function name gives,
// DurableName-x<a hash of it>.
func laneName(subject string) string {
	token := strings.TrimPrefix(subject, queuemsg.SubjectPrefix)
	if simpleToken.MatchString(token) {
		return DurableName + "-" + token
	}
	sum := sha256.Sum256([]byte(subject))
	return DurableName + "-x" + hex.EncodeToString(sum[:12])
}

// dropSharedConsumer deletes the single consumer earlier versions read
// every subject with: a work-queue stream refuses consumers whose
// subjects overlap. The calls it had delivered and not acknowledged stay
// in the stream, and their lanes deliver them.
func dropSharedConsumer(ctx context.Context, js jetstream.JetStream) error {
	err := js.DeleteConsumer(ctx, queuemsg.StreamName, DurableName)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("queue: delete consumer %s: %w", DurableName, err)
	}
	return nil
}

// discover opens a lane for each subject of the stream without one.
func (w *Worker) discover(ctx context.Context) error {
	info, err := w.stream.Info(ctx, jetstream.WithSubjectFilter(queuemsg.SubjectPrefix+">"))
	if err != nil {
		return fmt.Errorf("queue: stream %s: %w", queuemsg.StreamName, err)
	}
	var errs []error
	for subject := range info.State.Subjects {
		if err := w.openLane(ctx, subject); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// openLane creates (or updates) the consumer of subject and starts reading
// it, unless it has a lane already.
func (w *Worker) openLane(ctx context.Context, subject string) error {
	w.lanesMu.Lock()
	_, ok := w.lanes[subject]
	w.lanesMu.Unlock()
	if ok {
		return nil
	}
	name := laneName(subject)
	cons, err := w.js.CreateOrUpdateConsumer(ctx, queuemsg.StreamName, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "faas-flow local gateway queue worker, calls of " + strings.TrimPrefix(subject, queuemsg.SubjectPrefix),
		FilterSubject: subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.opts.AckWait,
		MaxDeliver:    w.opts.MaxDeliver,
		MaxAckPending: w.opts.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("queue: create consumer %s: %w", name, err)
	}
	l := &lane{subject: subject, cons: cons}
	w.lanesMu.Lock()
	defer w.lanesMu.Unlock()
	if _, ok := w.lanes[subject]; ok || w.stopping.Err() != nil {
		return nil
	}
	w.lanes[subject] = l
	w.laneWG.Add(1)
	go w.runLane(l)
	return nil
}

// watch looks for new subjects every lanePoll until the worker stops.
func (w *Worker) watch() {
	defer w.laneWG.Done()
	t := time.NewTicker(lanePoll)
	defer t.Stop()
	for {
		select {
		case <-w.stopping.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(w.stopping, laneFetchWait)
		if err := w.discover(ctx); err != nil && w.stopping.Err() == nil {
			w.opts.Logger.Warn("queue: look for new functions", "err", err)
		}
		cancel()
	}
}

// runLane hands each message of l to handle in a goroutine of its own,
// once it has a slot, until the worker stops. A message waiting for its
// slot is kept alive with in-progress acks.
func (w *Worker) runLane(l *lane) {
	defer w.laneWG.Done()
	for w.stopping.Err() == nil {
		msg, err := w.next(l)
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
			// Deleted from outside: the next look at the stream opens
			// the lane again.
			w.lanesMu.Lock()
			delete(w.lanes, l.subject)
			w.lanesMu.Unlock()
			return
		}
		if err != nil {
			continue
		}
		stopBeat := w.heartbeat(msg)
		t := &turn{slots: w.slots}
		ok := t.acquire(w.stopping)
		stopBeat()
		if !ok {
			_ = msg.Nak()
			return
		}
		w.wg.Add(1)
		w.calls.run(func() {
			defer w.wg.Done()
			defer t.release()
			w.handle(msg, t)
		})
	}
}

// next is l's next message, waiting up to laneFetchWait.
func (w *Worker) next(l *lane) (jetstream.Msg, error) {
	ctx, cancel := context.WithTimeout(w.stopping, laneFetchWait)
	defer cancel()
	msg, err := l.cons.Next(jetstream.FetchContext(ctx))
	switch {
	case err == nil:
		return msg, nil
	case w.stopping.Err() != nil, errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
	default:
		w.opts.Logger.Warn("queue: next message", "subject", l.subject, "err", err)
		sleep(w.stopping, 100*time.Millisecond)
	}
	return nil, err
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Close stops fetching and waits (bounded by ctx) for calls in flight.
func (w *Worker) Close(ctx context.Context) error {
	w.stop()
	finished := make(chan struct{})
	go func() { w.laneWG.Wait(); w.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backlog sums, over the lanes, the messages not yet delivered and those
// delivered but not yet acknowledged.
func (w *Worker) backlog(ctx context.Context) (pending, ackPending uint64, err error) {
	w.lanesMu.Lock()
	lanes := make([]*lane, 0, len(w.lanes))
	for _, l := range w.lanes {
		lanes = append(lanes, l)
	}
	w.lanesMu.Unlock()
	for _, l := range lanes {
		info, err := l.cons.Info(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("queue: consumer of %s: %w", l.subject, err)
		}
		pending += info.NumPending
		ackPending += uint64(info.NumAckPending)
	}
	return pending, ackPending, nil
}
