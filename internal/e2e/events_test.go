package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/runtime"
)

// secretOf reads a secret of the stack's secret store.
func (s *stack) secretOf(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.SecretsDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(b))
}

// events connects to the stack's NATS with the flows' login.
func (s *stack) events(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.NATSURL(), nats.UserInfo(s.secretOf(t, "nats-username"), s.secretOf(t, "nats-password")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// receivedEvent is a completion event as a subscriber reads it.
type receivedEvent struct {
	subject string
	ev      runtime.Event
	sigErr  error
}

// durableEvents creates (or opens again) the durable consumer name on the
// events of flow's requests.
func durableEvents(t *testing.T, js jetstream.JetStream, name, flow string) jetstream.Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.CreateOrUpdateConsumer(ctx, gateway.EventsStreamName, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: gateway.EventsSubjectPrefix + "." + flow + ".request.>",
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatalf("durable consumer %s on %s: %v", name, gateway.EventsStreamName, err)
	}
	return c
}

// drain reads and acknowledges events from c until it has been quiet for
// quiet, checking each signature with key.
func drain(t *testing.T, c jetstream.Consumer, key []byte, quiet time.Duration) []receivedEvent {
	t.Helper()
	var out []receivedEvent
	for {
		batch, err := c.Fetch(50, jetstream.FetchMaxWait(quiet))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var r receivedEvent
			r.subject = m.Subject()
			if err := json.Unmarshal(m.Data(), &r.ev); err != nil {
				t.Fatalf("event on %s is not JSON: %v: %s", m.Subject(), err, m.Data())
			}
			h := m.Headers()
			r.sigErr = runtime.VerifyCallback(key, h.Get(runtime.HeaderSignature), h.Get(runtime.HeaderRequestID), h.Get(runtime.HeaderState), m.Data(), time.Now(), runtime.CallbackWindow)
			if h.Get(runtime.HeaderRequestID) != r.ev.RequestID || h.Get(runtime.HeaderState) != r.ev.State {
				r.sigErr = errors.Join(r.sigErr, errors.New("headers name another request or state than the body"))
			}
			out = append(out, r)
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		if batch.Error() != nil && !errors.Is(batch.Error(), nats.ErrTimeout) {
			t.Fatal(batch.Error())
		}
		if n == 0 {
			return out
		}
	}
}

// startFlow starts a request of flow with body and returns its id (a
// request that fails in its first node is answered 422 at once).
func (s *stack) startFlow(t *testing.T, flow, body string) string {
	t.Helper()
	r := s.do(t, http.MethodPost, "/function/"+flow, []byte(body), nil)
	id := r.header.Get(runtime.HeaderRequestID)
	if r.status != http.StatusAccepted && r.status != http.StatusUnprocessableEntity || id == "" {
		t.Fatalf("start %s: %d %s", flow, r.status, r.body)
	}
	return id
}

// checkOneEventEach fails unless got holds exactly one validly signed
// event per request of want, with its state and sizes.
func checkOneEventEach(t *testing.T, who string, got []receivedEvent, want map[string]string, sizes map[string]int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range got {
		seen[r.ev.RequestID]++
		if r.sigErr != nil {
			t.Errorf("%s: event of %s: %v", who, r.ev.RequestID, r.sigErr)
		}
		state, ok := want[r.ev.RequestID]
		if !ok {
			t.Errorf("%s: event of a request not started here: %+v", who, r.ev)
			continue
		}
		wantSubject := gateway.EventsSubjectPrefix + ".eventful.request." + state
		if r.ev.State != state || r.subject != wantSubject || r.ev.Flow != "eventful" || r.ev.Kind != runtime.EventKindRequest {
			t.Errorf("%s: event %+v on %s: want state %s on %s", who, r.ev, r.subject, state, wantSubject)
		}
		if r.ev.Started.IsZero() || r.ev.Ended.Before(r.ev.Started) {
			t.Errorf("%s: event of %s: started %s, ended %s", who, r.ev.RequestID, r.ev.Started, r.ev.Ended)
		}
		if state == "failed" && !strings.Contains(r.ev.Error, "asked to fail") {
			t.Errorf("%s: failed request's event has error %q", who, r.ev.Error)
		}
		if state == "succeeded" && r.ev.ResultSize != sizes[r.ev.RequestID] {
			t.Errorf("%s: event of %s: result_size %d, want %d", who, r.ev.RequestID, r.ev.ResultSize, sizes[r.ev.RequestID])
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s: %d events of request %s (%s), want exactly 1", who, seen[id], id, want[id])
		}
	}
}

// TestEveryRequestEndIsPublishedOnceAndALateSubscriberCatchesUp runs
// requests of a flow on the local stack, one of them failing, while a
// durable subscriber reads the stream FAASFLOW_EVENTS: it gets exactly one
// validly signed event per request, with its state, and a subscriber that
// starts only after the requests have ended gets them all too. A
// subscriber that stops part way resumes where it stopped.
func TestEveryRequestEndIsPublishedOnceAndALateSubscriberCatchesUp(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "eventful.yml"))
	js := s.events(t)
	key := []byte(s.secretOf(t, gateway.HMACSecretName))
	early := durableEvents(t, js, "early", "eventful")

	want, sizes := map[string]string{}, map[string]int{}
	for _, body := range []string{"one", "fail", "three!"} {
		id := s.startFlow(t, "eventful", body)
		want[id], sizes[id] = "succeeded", len(body)
		if body == "fail" {
			want[id] = "failed"
		}
	}
	for id, state := range want {
		s.waitState(t, "eventful", id, state, time.Minute)
	}
	got := drain(t, early, key, 3*time.Second)
	checkOneEventEach(t, "subscriber running", got, want, sizes)

	// The early subscriber goes away; one more request ends meanwhile.
	later := s.startFlow(t, "eventful", "four")
	s.waitState(t, "eventful", later, "succeeded", time.Minute)
	resumed := drain(t, durableEvents(t, js, "early", "eventful"), key, 3*time.Second)
	checkOneEventEach(t, "subscriber back", resumed, map[string]string{later: "succeeded"}, map[string]int{later: 4})

	want[later], sizes[later] = "succeeded", 4
	late := drain(t, durableEvents(t, js, "late", "eventful"), key, 3*time.Second)
	checkOneEventEach(t, "subscriber started after the ends", late, want, sizes)
}
