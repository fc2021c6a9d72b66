package runtime_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// eventReceiver is an events_url endpoint: it answers the first fail
// posts 503, then keeps every event it accepts, with its signature checked.
type eventReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	fail int
	got  []postedEvent
}

type postedEvent struct {
	header http.Header
	ev     runtime.Event
	sigErr error
}

func newEventReceiver(t *testing.T, fail int) *eventReceiver {
	e := &eventReceiver{fail: fail}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.fail > 0 {
			e.fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		p := postedEvent{header: r.Header.Clone()}
		if err := json.Unmarshal(b, &p.ev); err != nil {
			p.sigErr = err
		}
		p.sigErr = errors.Join(p.sigErr, runtime.VerifyCallback([]byte(testKey), r.Header.Get(runtime.HeaderSignature),
			r.Header.Get(runtime.HeaderRequestID), r.Header.Get(runtime.HeaderState), b, time.Now(), runtime.CallbackWindow))
		e.got = append(e.got, p)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *eventReceiver) events() []postedEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]postedEvent(nil), e.got...)
}

func failingSyncFlow(flow *faasflow.Workflow, _ *faasflow.Context) error {
	flow.SyncNode().Modify(func([]byte) ([]byte, error) { return nil, errors.New("no way") })
	return nil
}

func TestEveryRequestEndIsPostedToEventsURLSigned(t *testing.T) {
	for _, tc := range []struct {
		name       string
		define     faasflow.DefineFunc
		fail       int // 503 answers before the endpoint accepts
		state      string
		size       int
		errContain string
	}{
		{"succeeded", syncFlow, 0, "succeeded", len("Hello world"), ""},
		{"failed", failingSyncFlow, 0, "failed", 0, "no way"},
		{"accepted on a retry", syncFlow, 2, "succeeded", len("Hello world"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newEventReceiver(t, tc.fail)
			f := startFlow(t, tc.define, map[string]string{"events_url": rcv.srv.URL, "callback_timeout": "1s"})
			r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("world"))
			id := r.Header.Get(runtime.HeaderRequestID)
			if id == "" { // a failure is answered with a JSON error
				id, _ = r.JSON(t)["request_id"].(string)
			}
			waitFor(t, func() bool { return len(rcv.events()) > 0 })
			time.Sleep(100 * time.Millisecond)
			got := rcv.events()
			if len(got) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(got), got)
			}
			p := got[0]
			if p.sigErr != nil {
				t.Fatal(p.sigErr)
			}
			ev := p.ev
			if ev.Kind != runtime.EventKindRequest || ev.Flow != "testflow" || ev.RequestID != id || ev.State != tc.state ||
				ev.ResultSize != tc.size || !strings.Contains(ev.Error, tc.errContain) || ev.Ended.Before(ev.Started) || ev.Started.IsZero() {
				t.Fatalf("event %+v: want %s of %s, result_size %d", ev, tc.state, id, tc.size)
			}
			if p.header.Get(runtime.HeaderEventID) != runtime.EventMsgID(&ev) || p.header.Get(runtime.HeaderEventKind) != "request" {
				t.Fatalf("headers %v", p.header)
			}
		})
	}
}

func TestNodeEventsAreSentOnlyWhenAskedFor(t *testing.T) {
	for _, nodes := range []bool{false, true} {
		rcv := newEventReceiver(t, 0)
		env := map[string]string{"events_url": rcv.srv.URL}
		if nodes {
			env["events_nodes"] = "true"
		}
		f := startFlow(t, syncFlow, env)
		fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("world"))
		waitFor(t, func() bool { return len(rcv.events()) > 0 })
		time.Sleep(100 * time.Millisecond)
		kinds := map[string]int{}
		for _, p := range rcv.events() {
			kinds[p.ev.Kind]++
			if p.sigErr != nil {
				t.Error(p.sigErr)
			}
		}
		want := map[string]int{"request": 1}
		if nodes {
			want["node"] = 1
		}
		if len(kinds) != len(want) || kinds["request"] != want["request"] || kinds["node"] != want["node"] {
			t.Errorf("events_nodes=%v: events by kind %v, want %v", nodes, kinds, want)
		}
	}
}

func TestEventSubjectsAndIDs(t *testing.T) {
	for _, tc := range []struct{ prefix, flow, kind, state, want string }{
		{"faasflow.events", "etl", "request", "failed", "faasflow.events.etl.request.failed"},
		{"a", "my.flow*>", "node", "succeeded", "a.my_flow__.node.succeeded"},
		{"a", "", "request", "stopped", "a._.request.stopped"},
	} {
		if got := runtime.EventSubject(tc.prefix, tc.flow, tc.kind, tc.state); got != tc.want {
			t.Errorf("EventSubject(%q, %q, %q, %q) = %q, want %q", tc.prefix, tc.flow, tc.kind, tc.state, got, tc.want)
		}
	}
	end := time.Unix(100, 5)
	a := runtime.Event{Kind: "request", RequestID: "r", State: "failed", Ended: end}
	same := a
	same.Error = "reported again by the reconciler"
	redriven := a
	redriven.Ended = end.Add(time.Minute)
	node := runtime.Event{Kind: "node", RequestID: "r", Node: "each[a\r\nb é]/work", Attempt: 2, State: "failed"}
	if id := runtime.EventMsgID(&node); strings.ContainsAny(id, " \r\né") || !strings.HasPrefix(id, "r.node.") || !strings.HasSuffix(id, ".2.failed") {
		t.Errorf("node event id %q is not usable in a header", id)
	}
	if runtime.EventMsgID(&a) != runtime.EventMsgID(&same) || runtime.EventMsgID(&a) == runtime.EventMsgID(&redriven) {
		t.Errorf("message ids: %s, %s, %s: want the first two equal, the third different",
			runtime.EventMsgID(&a), runtime.EventMsgID(&same), runtime.EventMsgID(&redriven))
	}
}

func TestEventSettingsRefuseBadValues(t *testing.T) {
	for _, env := range []map[string]string{
		{"events_subject_prefix": "a..b"},
		{"events_subject_prefix": "a.*"},
		{"events_url": "ftp://x"},
		{"events_nodes": "maybe"},
	} {
		env["gateway"] = "127.0.0.1:1"
		if _, err := runtime.LoadConfig(envOf(env), runtime.MapSecrets{}); !errors.Is(err, runtime.ErrInvalidConfig) {
			t.Errorf("%v: %v, want ErrInvalidConfig", env, err)
		}
	}
}
