package engine_test

import (
	"context"
	"sync"
	"testing"

	"github.com/faas-flow/faas-flow/engine"
)

// endEvents is a Notifier that keeps every completion it is given.
type endEvents struct {
	mu  sync.Mutex
	got []engine.Completion
}

func (e *endEvents) Notify(_ context.Context, c engine.Completion) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, c)
	return nil
}

func (e *endEvents) all() []engine.Completion {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]engine.Completion(nil), e.got...)
}

// Options.Events hears the end of every request, with the times recorded
// with it; the Notifier only the ends of requests with a callback URL.
func TestEventsHearEveryEndAndTheNotifierOnlyThoseWithACallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		callback string
		stop     bool
		state    string
	}{
		{"succeeded, no callback", "", false, engine.StateSucceeded},
		{"succeeded, with a callback", "http://callback", false, engine.StateSucceeded},
		{"stopped", "", true, engine.StateStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, callbacks := &endEvents{}, &endEvents{}
			f := newFixture(t, func(o *engine.Options) { o.Events, o.Notifier = events, callbacks })
			ctx := context.Background()
			res, err := f.e.Start(ctx, engine.StartRequest{Body: []byte(">"), CallbackURL: tc.callback})
			if err != nil {
				t.Fatal(err)
			}
			if tc.stop {
				if err := f.e.Stop(ctx, res.ID); err != nil {
					t.Fatal(err)
				}
			}
			deliverAll(t, f.e, f.tr)
			rec := f.state_(t, res.ID)
			got := events.all()
			if len(got) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(got), got)
			}
			c := got[0]
			if c.RequestID != res.ID || c.Flow != "chain" || c.State != tc.state || c.URL != tc.callback ||
				rec.Ended == nil || !c.Ended.Equal(*rec.Ended) || !c.Started.Equal(rec.Created) {
				t.Fatalf("event %+v; record created %s, ended %v", c, rec.Created, rec.Ended)
			}
			if tc.state == engine.StateSucceeded && string(c.Result) != ">abc" {
				t.Fatalf("event result %q, want >abc", c.Result)
			}
			if n := len(callbacks.all()); (tc.callback != "") != (n == 1) || n > 1 {
				t.Fatalf("%d callbacks for callback URL %q", n, tc.callback)
			}
		})
	}
}

// of returns how many times the end of request id was reported and with
// how many different end times.
func (e *endEvents) of(id string) (reports, times int) {
	seen := map[int64]bool{}
	for _, c := range e.all() {
		if c.RequestID == id {
			reports++
			seen[c.Ended.UnixNano()] = true
		}
	}
	return reports, len(seen)
}
