package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	datamem "github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testflow"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

// capture is a Transport that keeps hops for the test to deliver by hand.
type capture struct {
	mu   sync.Mutex
	hops [][]byte
}

func (c *capture) Send(_ context.Context, _ string, hop []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hops = append(c.hops, hop)
	return nil
}

func (c *capture) take(t *testing.T) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.hops) == 0 {
		t.Fatal("no hop was forwarded")
	}
	h := c.hops[0]
	c.hops = c.hops[1:]
	return h
}

// drop forgets the hops captured so far, as a queue that lost them.
func (c *capture) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hops = nil
}

func (c *capture) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.hops)
}

// deliverAll delivers the captured hops until none is left. Duplicates of
// finished work are dropped, or refused once the request has ended.
func deliverAll(t *testing.T, e *engine.Engine, c *capture) {
	t.Helper()
	for c.len() > 0 {
		if err := e.Receive(context.Background(), c.take(t)); err != nil && !errors.Is(err, engine.ErrWrongState) {
			t.Fatalf("hop: %v", err)
		}
	}
}

// wantResult fails the test unless request id succeeded with output want.
func wantResult(t *testing.T, e *engine.Engine, id, want string) *engine.RequestRecord {
	t.Helper()
	out, rec, err := e.Result(context.Background(), id)
	if err != nil || rec.State != engine.StateSucceeded {
		t.Fatalf("result %q %+v %v", out, rec, err)
	}
	if string(out) != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	return rec
}

type fixture struct {
	e      *engine.Engine
	tr     *capture
	state  *statemem.Store
	data   *datamem.Store
	ran    map[string]*atomic.Int32
	final  atomic.Value
	finals atomic.Int32
	now    atomic.Pointer[time.Time]
}

// newFixture builds an engine for the chain a -> b -> c with a capture
// transport.
func newFixture(t *testing.T, tune ...func(*engine.Options)) *fixture {
	t.Helper()
	f := &fixture{tr: &capture{}, state: statemem.New(), data: datamem.New(), ran: map[string]*atomic.Int32{}}
	for _, n := range []string{"a", "b", "c"} {
		f.ran[n] = &atomic.Int32{}
	}
	define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		for _, n := range []string{"a", "b", "c"} {
			n := n
			d.Node(n).Modify(func(in []byte) ([]byte, error) {
				f.ran[n].Add(1)
				return append(append([]byte(nil), in...), n...), nil
			})
		}
		d.Edge("a", "b")
		d.Edge("b", "c")
		flow.Finally(func(s string) { f.finals.Add(1); f.final.Store(s) })
		return nil
	}
	signer, err := engine.NewSigner([]byte("test-key"), false)
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Flow: "chain", StateStore: f.state, DataStore: f.data, Transport: f.tr, Signer: signer,
		Now: func() time.Time {
			if p := f.now.Load(); p != nil {
				return *p
			}
			return time.Now()
		}}
	for _, fn := range tune {
		fn(&o)
	}
	if f.e, err = engine.New(define, o); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) start(t *testing.T) string {
	t.Helper()
	res, err := f.e.Start(context.Background(), engine.StartRequest{Body: []byte(">")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sync || res.State != engine.StateRunning {
		t.Fatalf("start: %+v", res)
	}
	return res.ID
}

func (f *fixture) state_(t *testing.T, id string) *engine.RequestRecord {
	t.Helper()
	rec, err := f.e.State(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestPauseLeavesNodesPendingAndResumeSendsTheirHopsAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.start(t)
	if err := f.e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Pause(ctx, id); err != nil {
		t.Fatalf("pausing a paused request: %v", err)
	}
	if err := f.e.Receive(ctx, f.tr.take(t)); err != nil {
		t.Fatalf("hop of paused request: %v", err)
	}
	if f.ran["b"].Load() != 0 || f.tr.len() != 0 {
		t.Fatal("a paused request ran a node or sent a hop")
	}
	rec := f.state_(t, id)
	if rec.State != engine.StatePaused || rec.Nodes["b"].Status != engine.NodePending {
		t.Fatalf("state %s, node b %+v", rec.State, rec.Nodes["b"])
	}
	if err := f.e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := f.tr.len(); n != 1 {
		t.Fatalf("resume sent %d hops, want the one of the pending node", n)
	}
	// Resuming a running request sends the pending hops again: a resume
	// whose sends failed is repeated that way. The copy is harmless.
	if err := f.e.Resume(ctx, id); err != nil {
		t.Fatalf("resuming a running request: %v", err)
	}
	if n := f.tr.len(); n != 2 {
		t.Fatalf("second resume: %d hops queued, want 2", n)
	}
	deliverAll(t, f.e, f.tr)
	out, rec, err := f.e.Result(ctx, id)
	if err != nil || string(out) != ">abc" || rec.State != engine.StateSucceeded {
		t.Fatalf("result %q %v %v", out, rec, err)
	}
	if f.ran["b"].Load() != 1 || f.ran["c"].Load() != 1 {
		t.Fatalf("b ran %d, c ran %d times", f.ran["b"].Load(), f.ran["c"].Load())
	}
}

func TestStopCancelsNodesNotStartedAndTheirLateHopsChangeNothing(t *testing.T) {
	f := newFixture(t, func(o *engine.Options) { o.RedriveRetention = -1 })
	ctx := context.Background()
	id := f.start(t)
	hop := f.tr.take(t)
	if err := f.e.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if f.finals.Load() != 1 || f.final.Load() != "stopped" {
		t.Fatalf("Finally ran %d times with %v", f.finals.Load(), f.final.Load())
	}
	rec := f.state_(t, id)
	if rec.State != engine.StateStopped || !rec.Cleaned || rec.Nodes["b"].Status != engine.NodeCancelled {
		t.Fatalf("record after stop: %+v", rec)
	}
	// The hop of b was already on its way: it arrives, and is dropped as
	// done (a queue must not retry it).
	if err := f.e.Receive(ctx, hop); err != nil {
		t.Fatalf("hop of stopped request: %v, want nil", err)
	}
	if f.ran["b"].Load() != 0 {
		t.Fatal("a stopped request ran a node")
	}
	for _, k := range f.state.Keys() {
		if k != "r/chain/"+id && !(strings.HasPrefix(k, "l/chain/") && strings.HasSuffix(k, "/"+id)) {
			t.Errorf("key left: %s", k)
		}
	}
	if err := f.e.Stop(ctx, id); !errors.Is(err, engine.ErrWrongState) {
		t.Fatalf("second stop: %v", err)
	}
	if err := f.e.Pause(ctx, id); !errors.Is(err, engine.ErrWrongState) {
		t.Fatalf("pause of stopped request: %v", err)
	}
}

func TestStopWaitsForARunningNodeBeforeCleaningUp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.start(t)
	hop := f.tr.take(t)
	// Play a delivery of b that holds it when the request is stopped.
	rec := f.state_(t, id)
	key := "w/chain/" + id + "/" + rec.Incarnation + "/n/b"
	fakeClaim(t, f, key, time.Now().Add(time.Minute))
	if err := f.e.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if f.state_(t, id).Cleaned {
		t.Fatal("cleaned up while a node was still running")
	}
	// Its lease runs out; the reconciler cancels it and cleans up.
	later := time.Now().Add(2 * time.Minute)
	f.now.Store(&later)
	if _, err := f.e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := f.state_(t, id); !rec.Cleaned || rec.Nodes["b"].Status != engine.NodeCancelled {
		t.Fatalf("record after the lease ran out: %+v", rec)
	}
	if err := f.e.Receive(ctx, hop); err != nil || f.ran["b"].Load() != 0 {
		t.Fatalf("late hop: %v, b ran %d times", err, f.ran["b"].Load())
	}
}

// completions is a Notifier that keeps the results of ended requests.
type completions struct {
	mu  sync.Mutex
	got []string
}

func (c *completions) Notify(_ context.Context, done engine.Completion) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, string(done.Result))
	return nil
}

func (c *completions) results() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// fakeClaim makes the node record at key look held by a delivery that died
// (or still runs) with a lease until lease.
func fakeClaim(t *testing.T, f *fixture, key string, lease time.Time) {
	t.Helper()
	b, ver, err := f.state.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]interface{}
	_ = json.Unmarshal(b, &rec)
	rec["status"], rec["hop"], rec["lease_until"] = "running", "dead-delivery", lease
	nb, _ := json.Marshal(rec)
	if _, ok, err := f.state.CompareAndSwap(context.Background(), key, ver, nb, 0); !ok || err != nil {
		t.Fatal("cannot fake the claim", err)
	}
}

func TestStopOfPausedRequestDiscardsParkedHops(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.start(t)
	if err := f.e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Receive(ctx, f.tr.take(t)); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if rec := f.state_(t, id); !rec.Cleaned {
		t.Fatalf("not cleaned: %+v", rec)
	}
	if err := f.e.Resume(ctx, id); !errors.Is(err, engine.ErrWrongState) {
		t.Fatalf("resume of stopped: %v", err)
	}
	if f.tr.len() != 0 || f.ran["b"].Load() != 0 {
		t.Fatal("parked hop escaped after stop")
	}
}

func TestUnknownRequestIsNotFoundNeverFinished(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"state":  func() error { _, err := f.e.State(ctx, "nope"); return err },
		"result": func() error { _, _, err := f.e.Result(ctx, "nope"); return err },
		"pause":  func() error { return f.e.Pause(ctx, "nope") },
		"resume": func() error { return f.e.Resume(ctx, "nope") },
		"stop":   func() error { return f.e.Stop(ctx, "nope") },
	} {
		if err := call(); !errors.Is(err, engine.ErrUnknownRequest) {
			t.Errorf("%s of unknown id: %v, want ErrUnknownRequest", name, err)
		}
	}
}

func TestRedeliveredHopOfFinishedNodeIsDropped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.start(t)
	hopB := f.tr.take(t)
	if err := f.e.Receive(ctx, hopB); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Receive(ctx, hopB); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	if f.ran["b"].Load() != 1 || f.tr.len() != 1 {
		t.Fatalf("b ran %d times, %d hops forwarded", f.ran["b"].Load(), f.tr.len())
	}
	if err := f.e.Receive(ctx, f.tr.take(t)); err != nil {
		t.Fatal(err)
	}
	// A late duplicate of an ended request is done (nil, so that a queue
	// does not retry it) and changes nothing.
	before := f.state.Keys()
	if err := f.e.Receive(ctx, hopB); err != nil {
		t.Fatalf("late duplicate: %v", err)
	}
	if after := f.state.Keys(); len(after) != len(before) {
		t.Fatalf("late duplicate changed keys: %v -> %v", before, after)
	}
	if out, _, _ := f.e.Result(ctx, id); string(out) != ">abc" {
		t.Fatalf("result %q", out)
	}
}

func TestCrashedDeliveryIsTakenOverAfterItsLease(t *testing.T) {
	f := newFixture(t, func(o *engine.Options) { o.Lease = time.Minute })
	ctx := context.Background()
	id := f.start(t)
	hopB := f.tr.take(t)
	// Simulate a delivery that claimed b and died: its record says running,
	// with a lease that has not expired yet.
	fakeClaim(t, f, "w/chain/"+id+"/"+f.state_(t, id).Incarnation+"/n/b", time.Now().Add(time.Minute))
	if err := f.e.Receive(ctx, hopB); !errors.Is(err, engine.ErrHopInProgress) {
		t.Fatalf("delivery during the lease: %v, want ErrHopInProgress", err)
	}
	later := time.Now().Add(2 * time.Minute)
	f.now.Store(&later)
	if err := f.e.Receive(ctx, hopB); err != nil {
		t.Fatalf("delivery after the lease: %v", err)
	}
	if err := f.e.Receive(ctx, f.tr.take(t)); err != nil {
		t.Fatal(err)
	}
	if out, rec2, err := f.e.Result(ctx, id); err != nil || string(out) != ">abc" {
		t.Fatalf("result %q %+v %v", out, rec2, err)
	}
}

func TestBadHopsAreRejectedWithTypedErrorsAndChangeNothing(t *testing.T) {
	f := newFixture(t, func(o *engine.Options) { o.MaxHopAge = time.Hour })
	ctx := context.Background()
	id := f.start(t)
	good := f.tr.take(t)
	var sh engine.SignedHop
	if err := json.Unmarshal(good, &sh); err != nil {
		t.Fatal(err)
	}
	reseal := func(mut func(*engine.Envelope), key string) []byte {
		var env engine.Envelope
		if err := json.Unmarshal(sh.Hop, &env); err != nil {
			t.Fatal(err)
		}
		mut(&env)
		s, err := engine.NewSigner([]byte(key), false)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Seal(&env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tamper := func(field, value string) []byte {
		var m map[string]interface{}
		_ = json.Unmarshal(sh.Hop, &m)
		m[field] = value
		hop, _ := json.Marshal(m)
		b, _ := json.Marshal(engine.SignedHop{Version: engine.EnvelopeVersion, Signature: sh.Signature, Hop: hop})
		return b
	}
	unsigned, _ := json.Marshal(engine.SignedHop{Version: engine.EnvelopeVersion, Hop: sh.Hop})
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"tampered data", tamper("data", "ZXZpbA=="), engine.ErrBadSignature},
		{"tampered request id", tamper("request_id", "other"), engine.ErrBadSignature},
		{"tampered cursor bytes", bytes.Replace(good, []byte(`"node":"b"`), []byte(`"node":"c"`), 1), engine.ErrBadSignature},
		{"unsigned", unsigned, engine.ErrBadSignature},
		{"signed with another key", reseal(func(*engine.Envelope) {}, "wrong-key"), engine.ErrBadSignature},
		{"stale", reseal(func(e *engine.Envelope) { e.IssuedAt = time.Now().Add(-2 * time.Hour) }, "test-key"), engine.ErrStaleHop},
		{"dated in the future", reseal(func(e *engine.Envelope) { e.IssuedAt = time.Now().Add(5 * time.Minute) }, "test-key"), engine.ErrFutureHop},
		{"tampered incarnation", tamper("inc", "other"), engine.ErrBadSignature},
		{"no incarnation", reseal(func(e *engine.Envelope) { e.Incarnation = "" }, "test-key"), engine.ErrMalformedHop},
		{"other flow", reseal(func(e *engine.Envelope) { e.Flow = "other" }, "test-key"), engine.ErrWrongFlow},
		{"malformed", []byte(`{"v":2,"hop":`), engine.ErrMalformedHop},
		{"not json", []byte("hello"), engine.ErrMalformedHop},
		{"earlier version", []byte(`{"v":1,"sig":"x","hop":{}}`), engine.ErrUnsupportedHop},
		{"later version", []byte(`{"v":3,"sig":"x","hop":{}}`), engine.ErrUnsupportedHop},
		{"cursor to unknown node", reseal(func(e *engine.Envelope) { e.Cursor = []engine.Frame{{Node: "zz"}} }, "test-key"), engine.ErrInvalidCursor},
	}
	before := f.state.Keys()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.e.Receive(ctx, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if f.ran["b"].Load() != 0 || f.ran["c"].Load() != 0 {
				t.Fatal("a rejected hop ran a node")
			}
		})
	}
	if after := f.state.Keys(); len(after) != len(before) {
		t.Fatalf("rejected hops changed state keys: %v -> %v", before, after)
	}
	if st := f.state_(t, id).State; st != engine.StateRunning {
		t.Fatalf("state %s", st)
	}
	// A genuine hop delivered for another request is refused unread.
	if err := f.e.ReceiveFor(ctx, "someone-else", good); !errors.Is(err, engine.ErrWrongRequest) {
		t.Fatalf("a hop delivered for another request: %v, want ErrWrongRequest", err)
	}
	if f.ran["b"].Load() != 0 || f.ran["c"].Load() != 0 || len(f.state.Keys()) != len(before) {
		t.Fatal("a hop delivered for another request ran a node or wrote state")
	}
	// The genuine hop still works.
	if err := f.e.ReceiveFor(ctx, id, good); err != nil {
		t.Fatal(err)
	}
}

func TestHopOfAnUnknownRequestIsDroppedQuietly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.start(t)
	var sh engine.SignedHop
	if err := json.Unmarshal(f.tr.take(t), &sh); err != nil {
		t.Fatal(err)
	}
	var env engine.Envelope
	if err := json.Unmarshal(sh.Hop, &env); err != nil {
		t.Fatal(err)
	}
	env.RequestID = "unknown"
	signer, _ := engine.NewSigner([]byte("test-key"), false)
	hop, _ := signer.Seal(&env)
	before := f.state.Keys()
	if err := f.e.Receive(ctx, hop); err != nil {
		t.Fatalf("hop of an unknown request: %v, want nil (nothing to do, nothing to retry)", err)
	}
	if after := f.state.Keys(); len(after) != len(before) || f.ran["b"].Load() != 0 {
		t.Fatalf("a hop of an unknown request ran b (%d) or changed keys: %v -> %v", f.ran["b"].Load(), before, after)
	}
}

// A request id used again gets a new incarnation: a hop captured from the
// earlier request (valid signature, same id, same node) is dropped, and
// the new request's result is its own.
func TestHopOfAnEarlierRequestWithTheSameIDIsDropped(t *testing.T) {
	ends := &completions{}
	f := newFixture(t, func(o *engine.Options) { o.Retention, o.Notifier = -1, ends })
	ctx := context.Background()
	res, err := f.e.Start(ctx, engine.StartRequest{ID: "reused", Body: []byte("OLD:"), CallbackURL: "http://callback"})
	if err != nil {
		t.Fatal(err)
	}
	oldHopB := f.tr.take(t)
	if err := f.e.Receive(ctx, oldHopB); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, f.e, f.tr)
	if _, err := f.e.State(ctx, res.ID); !errors.Is(err, engine.ErrUnknownRequest) {
		t.Fatalf("the first request was not deleted at its end: %v", err)
	}
	if _, err := f.e.Start(ctx, engine.StartRequest{ID: "reused", Body: []byte("NEW:"), CallbackURL: "http://callback"}); err != nil {
		t.Fatal(err)
	}
	newHopB := f.tr.take(t)
	ranB := f.ran["b"].Load()
	before := f.state.Keys()
	if err := f.e.Receive(ctx, oldHopB); err != nil {
		t.Fatalf("replayed hop: %v, want nil", err)
	}
	if f.ran["b"].Load() != ranB || f.tr.len() != 0 {
		t.Fatal("a hop of the earlier request ran a node of the new one")
	}
	if after := f.state.Keys(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("the replayed hop changed keys: %v -> %v", before, after)
	}
	rec := f.state_(t, "reused")
	if rec.Nodes["b"].Status != engine.NodePending {
		t.Fatalf("node b of the new request is %s, want pending", rec.Nodes["b"].Status)
	}
	if err := f.e.Receive(ctx, newHopB); err != nil {
		t.Fatal(err)
	}
	f.tr.mu.Lock()
	last := f.tr.hops[len(f.tr.hops)-1]
	f.tr.mu.Unlock()
	if err := f.e.Receive(ctx, last); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, f.e, f.tr)
	if _, err := f.e.State(ctx, "reused"); !errors.Is(err, engine.ErrUnknownRequest) {
		t.Fatalf("the new request did not end: %v", err)
	}
	if got := ends.results(); !slices.Equal(got, []string{"OLD:abc", "NEW:abc"}) {
		t.Fatalf("requests ended with %q, want the old and then the new request's own", got)
	}
}

func TestHopFromChangedDefinitionFailsTheRequest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.start(t)
	hop := f.tr.take(t)
	signer, _ := engine.NewSigner([]byte("test-key"), false)
	other, err := engine.New(func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("a").Modify(testflow.AppendMod(""))
		d.Node("b").Modify(testflow.AppendMod(""))
		d.Node("x").Modify(testflow.AppendMod(""))
		d.Edge("a", "b")
		d.Edge("b", "x")
		return nil
	}, engine.Options{Flow: "chain", StateStore: f.state, DataStore: f.data, Transport: f.tr, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Receive(ctx, hop); !errors.Is(err, engine.ErrDefinitionChanged) {
		t.Fatalf("got %v", err)
	}
	if rec := f.state_(t, id); rec.State != engine.StateFailed || !rec.Cleaned {
		t.Fatalf("record %+v", rec)
	}
}

func TestSignerRefusesAnEmptyKeyUnlessInsecure(t *testing.T) {
	if _, err := engine.NewSigner(nil, false); !errors.Is(err, engine.ErrConfig) {
		t.Fatalf("empty key: %v", err)
	}
	s, err := engine.NewSigner(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Seal(&engine.Envelope{Version: engine.EnvelopeVersion, Flow: "f", RequestID: "r", Incarnation: "i", HopID: "h", Cursor: []engine.Frame{{Node: "n"}}})
	if _, err := s.Open(b); err != nil {
		t.Fatalf("insecure round trip: %v", err)
	}
}

func TestControlCallsOnAOneNodeFlowAreNotFound(t *testing.T) {
	e, err := engine.New(func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		flow.SyncNode().Modify(testflow.AppendMod("x"))
		return nil
	}, engine.Options{Flow: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"pause": func() error { return e.Pause(ctx, "id") }, "resume": func() error { return e.Resume(ctx, "id") },
		"stop": func() error { return e.Stop(ctx, "id") }, "state": func() error { _, err := e.State(ctx, "id"); return err },
	} {
		if err := call(); !errors.Is(err, engine.ErrUnknownRequest) {
			t.Errorf("%s: %v, want ErrUnknownRequest", name, err)
		}
	}
}

// recordReadsFail is a store on which, once the request has succeeded,
// every read of a request record fails; firstRead is closed at the first
// read of one. If failedRead is set, the write that ends the request does
// not return until a read has failed (or a second has passed): the store
// has the final record while the process that wrote it has not yet told
// its waiters.
type recordReadsFail struct {
	*statemem.Store
	firstRead  chan struct{}
	once       sync.Once
	ended      atomic.Bool
	failedRead chan struct{}
	failOnce   sync.Once
}

func isRecordKey(k string) bool { return strings.HasPrefix(k, "r/") }

func (s *recordReadsFail) Get(ctx context.Context, k string) ([]byte, int64, error) {
	if isRecordKey(k) {
		s.once.Do(func() { close(s.firstRead) })
		if s.ended.Load() {
			if s.failedRead != nil {
				s.failOnce.Do(func() { close(s.failedRead) })
			}
			return nil, 0, errDown
		}
	}
	return s.Store.Get(ctx, k)
}

func (s *recordReadsFail) CompareAndSwap(ctx context.Context, k string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	nver, ok, err := s.Store.CompareAndSwap(ctx, k, ver, v, ttl)
	if ok {
		s.wrote(k, v)
	}
	return nver, ok, err
}

// Txn is the memory store's, watching for the write that ends the request.
func (s *recordReadsFail) Txn(ctx context.Context, ops ...faasflow.TxnOp) ([]faasflow.TxnResult, error) {
	res, err := s.Store.Txn(ctx, ops...)
	if err == nil {
		for i, op := range ops {
			if op.Kind == faasflow.TxnKindSwap && res[i].OK {
				s.wrote(op.Key, op.Value)
			}
		}
	}
	return res, err
}

// wrote notes a write of the request record that ends the request, and
// then lets a poll of the record fail before the ending hop goes on.
func (s *recordReadsFail) wrote(k string, v []byte) {
	if !isRecordKey(k) || !bytes.Contains(v, []byte(`"state":"succeeded"`)) || s.ended.Swap(true) {
		return
	}
	if s.failedRead != nil {
		select {
		case <-s.failedRead:
		case <-time.After(time.Second):
		}
	}
}

// TestWaitGetsTheOutcomeFromTheProcessThatEndedTheRequest: a Wait in the
// process whose hop ends the request is handed the final record and result;
// it does not read them back from the store (which here fails every read of
// the record from then on).
func TestWaitGetsTheOutcomeFromTheProcessThatEndedTheRequest(t *testing.T) {
	t.Run("woken before its next poll", func(t *testing.T) {
		testWaitGetsTheOutcome(t, &recordReadsFail{Store: statemem.New(), firstRead: make(chan struct{})})
	})
	// The poll reads the store between the final write and the wake: the
	// failed read must not end the Wait, the wake that follows must.
	t.Run("polling while the ending hop is between its write and the wake", func(t *testing.T) {
		testWaitGetsTheOutcome(t, &recordReadsFail{Store: statemem.New(), firstRead: make(chan struct{}), failedRead: make(chan struct{})})
	})
}

func testWaitGetsTheOutcome(t *testing.T, state *recordReadsFail) {
	f := newFixture(t, func(o *engine.Options) { o.StateStore = state })
	id := f.start(t)
	type outcome struct {
		out []byte
		rec *engine.RequestRecord
		err error
	}
	got := make(chan outcome, 1)
	go func() {
		out, rec, err := f.e.Wait(context.Background(), id)
		got <- outcome{out, rec, err}
	}()
	<-state.firstRead // Wait is registered and found the request running
	deliverAll(t, f.e, f.tr)
	if !state.ended.Load() {
		t.Fatal("the request never succeeded")
	}
	select {
	case o := <-got:
		if o.err != nil || o.rec.State != engine.StateSucceeded || string(o.out) != ">abc" {
			t.Fatalf("Wait: %q %+v %v; want >abc, succeeded", o.out, o.rec, o.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
	}
	if state.failedRead != nil {
		select {
		case <-state.failedRead:
		default:
			t.Fatal("no read of the record failed between the final write and the wake")
		}
	}
}

// TestWaitOnAStoreThatStaysDownEndsWithItsError: when the state store is
// unavailable until the wait's deadline, Wait returns the store's error (the
// runtime answers 503), not the deadline.
func TestWaitOnAStoreThatStaysDownEndsWithItsError(t *testing.T) {
	ds := &downState{StateStore: statemem.New()}
	f := newFixture(t, func(o *engine.Options) { o.StateStore = ds })
	id := f.start(t)
	ds.down.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := f.e.Wait(ctx, id); !errors.Is(err, faasflow.ErrStoreUnavailable) {
		t.Fatalf("Wait with the store down: %v, want ErrStoreUnavailable", err)
	}
}

// lateParent is a store on which the last write of node b waits until the
// request's ending hop has read the node statuses it would fold into the
// record (seeing b still running); that read then waits until b's own
// drain has read them too (and found the handlers still running).
type lateParent struct {
	*statemem.Store
	ended                 atomic.Bool
	lists                 atomic.Int32
	summaryRead, bDrained chan struct{}
}

func (s *lateParent) Txn(ctx context.Context, ops ...faasflow.TxnOp) ([]faasflow.TxnResult, error) {
	for _, op := range ops {
		if strings.HasSuffix(op.Key, "/n/b") && bytes.Contains(op.Value, []byte(`"status":"succeeded"`)) {
			<-s.summaryRead
		}
		if isRecordKey(op.Key) && bytes.Contains(op.Value, []byte(`"state":"succeeded"`)) {
			defer s.ended.Store(true)
		}
	}
	return s.Store.Txn(ctx, ops...)
}

func (s *lateParent) List(ctx context.Context, prefix string) ([]faasflow.KV, error) {
	kvs, err := s.Store.List(ctx, prefix)
	if !s.ended.Load() || !strings.HasSuffix(prefix, "/n/") {
		return kvs, err
	}
	switch s.lists.Add(1) {
	case 1: // the ending hop's summary
		close(s.summaryRead)
		<-s.bDrained
	case 2: // b's drain
		close(s.bDrained)
	}
	return kvs, err
}

// TestARequestWhoseParentWritesLastIsStillCleanedUp: a child's hop leaves
// before its parent's last write, so the child can end the request while
// the parent is still running. Whichever of the two looks last must clean
// the request up, without waiting for the reconciler.
func TestARequestWhoseParentWritesLastIsStillCleanedUp(t *testing.T) {
	state := &lateParent{Store: statemem.New(), summaryRead: make(chan struct{}), bDrained: make(chan struct{})}
	f := newFixture(t, func(o *engine.Options) { o.StateStore = state })
	id := f.start(t)
	ctx := context.Background()
	bHop := f.tr.take(t) // a ran in Start
	bDone := make(chan error, 1)
	go func() { bDone <- f.e.Receive(ctx, bHop) }()
	for deadline := time.Now().Add(10 * time.Second); f.tr.len() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("c's hop did not leave before b's last write")
		}
	}
	if err := f.e.Receive(ctx, f.tr.take(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	if state.lists.Load() < 2 {
		t.Fatalf("the interleaving did not happen (%d reads of the nodes after the end)", state.lists.Load())
	}
	rec := wantResult(t, f.e, id, ">abc")
	if !rec.Cleaned {
		st, _ := f.e.State(ctx, id)
		t.Fatalf("the request was not cleaned up: %+v; lists %d", st, state.lists.Load())
	}
}

// slowFinalize is a store on which the write that records a failed
// request's handlers takes 300 ms.
type slowFinalize struct{ *statemem.Store }

func (s slowFinalize) CompareAndSwap(ctx context.Context, k string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	if isRecordKey(k) && bytes.Contains(v, []byte(`"state":"failed"`)) && !bytes.Contains(v, []byte(`"finalizing":true`)) {
		time.Sleep(300 * time.Millisecond)
	}
	return s.Store.CompareAndSwap(ctx, k, ver, v, ttl)
}

// TestResultOfAFailureWaitsForItsOnFailureOutput: asked for the result of a
// failed request whose OnFailure output is still being stored, Result
// waits for it instead of answering that the request has not finished.
func TestResultOfAFailureWaitsForItsOnFailureOutput(t *testing.T) {
	define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		flow.Dag().Node("a").Modify(testflow.AppendMod("a"))
		flow.Dag().Node("bad").Modify(func([]byte) ([]byte, error) { return nil, errors.New("boom") })
		flow.Dag().Edge("a", "bad")
		flow.OnFailure(func(error) ([]byte, error) { return []byte("handled"), nil })
		return nil
	}
	state := slowFinalize{statemem.New()}
	h := newHarness(t, define, flowtest.WithStores(plainState{state}, nil))
	ctx := ctxT(t)
	started, err := h.Engine.Start(ctx, engine.StartRequest{Body: []byte(">")})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.Transport.WaitIdle(ctx) }()
	for {
		rec, err := h.Engine.State(ctx, started.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State == engine.StateFailed {
			if !rec.Finalizing {
				t.Fatal("the handlers were recorded before the test could ask: the store did not slow them")
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
	out, rec, err := h.Engine.Result(ctx, started.ID)
	if err != nil || string(out) != "handled" || rec.State != engine.StateFailed {
		t.Fatalf("Result: %q %+v %v; want the OnFailure output", out, rec, err)
	}
}
