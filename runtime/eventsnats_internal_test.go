package runtime

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testenv"
)

// eventsStream creates a stream holding the events of prefix, as faasflow
// up does.
func eventsStream(t *testing.T, js jetstream.JetStream, prefix string) jetstream.Stream {
	t.Helper()
	s, err := js.CreateOrUpdateStream(t.Context(), jetstream.StreamConfig{
		Name: "EVENTS", Subjects: []string{prefix + ".>"}, Duplicates: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func natsEvents(t *testing.T, url string) *EventPublisher {
	t.Helper()
	cfg := Config{Flow: "f", HMACSecret: []byte("k"), CallbackAttempts: 10, CallbackTimeout: time.Second,
		Events: EventsConfig{NATSURL: url, SubjectPrefix: "ev"}}
	p, err := openEvents(cfg, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestAnEndReportedAgainIsStoredOnceAndARedrivenEndAgain(t *testing.T) {
	end := time.Now()
	c := engine.Completion{Flow: "f", RequestID: "r1", State: "failed", Error: "boom", Started: end.Add(-time.Second), Ended: end}
	redriven := c
	redriven.Ended = end.Add(time.Minute)
	for _, tc := range []struct {
		name    string
		reports []engine.Completion
		want    uint64
	}{
		{"one end", []engine.Completion{c}, 1},
		{"one end reported twice (the reconciler after a crash)", []engine.Completion{c, c}, 1},
		{"an end, then the end of its redrive", []engine.Completion{c, redriven}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testenv.NATS(t)
			nc, err := nats.Connect(n.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			stream := eventsStream(t, js, "ev")
			p := natsEvents(t, n.URL)
			for _, r := range tc.reports {
				if err := p.Notify(t.Context(), r); err != nil {
					t.Fatal(err)
				}
			}
			if got := streamMsgs(t, stream); got != tc.want {
				t.Fatalf("%d events stored, want %d", got, tc.want)
			}
			msg, err := stream.GetLastMsgForSubject(t.Context(), "ev.f.request.failed")
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyCallback([]byte("k"), msg.Header.Get(HeaderSignature), "r1", "failed", msg.Data, time.Now(), CallbackWindow); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAnEventNoStreamTakesIsRetriedUntilOneDoes(t *testing.T) {
	n := testenv.NATS(t)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	p := natsEvents(t, n.URL)
	c := engine.Completion{Flow: "f", RequestID: "r2", State: "succeeded", Result: []byte("ok"), Started: time.Now(), Ended: time.Now()}
	if err := p.Notify(t.Context(), c); err != nil {
		t.Fatalf("Notify: %v (a failed first attempt is queued for retries)", err)
	}
	if st := p.Stats(); st.Retried != 1 || st.Published != 0 {
		t.Fatalf("stats after the first attempt: %+v, want 1 retried", st)
	}
	stream := eventsStream(t, js, "ev")
	deadline := time.Now().Add(10 * time.Second)
	for streamMsgs(t, stream) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := streamMsgs(t, stream); got != 1 {
		t.Fatalf("%d events stored once a stream took the subject, want 1", got)
	}
	// The retry counts its publication when the stream's acknowledgement
	// comes back, a moment after the stream stored the event.
	for p.Stats().Published == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := p.Stats(); st.Published != 1 || st.Failed != 0 {
		t.Fatalf("stats: %+v", st)
	}
}
