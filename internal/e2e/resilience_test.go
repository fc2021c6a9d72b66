package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/internal/testenv"
)

// ends receives completion callbacks and keeps, per request, how many
// arrived, the last result and state, and when the last one came.
type ends struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]*end
}

type end struct {
	count  int
	state  string
	result string
	at     time.Time
	differ bool // a later callback said something else than an earlier one
}

func newEnds(t *testing.T) *ends {
	e := &ends{got: map[string]*end{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		defer e.mu.Unlock()
		id := r.Header.Get("X-Faas-Flow-Reqid")
		g := e.got[id]
		if g == nil {
			g = &end{}
			e.got[id] = g
		}
		g.count++
		state := r.Header.Get("X-Faas-Flow-State")
		g.differ = g.differ || g.count > 1 && (state != g.state || string(b) != g.result)
		g.state, g.result, g.at = state, string(b), time.Now()
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// wait waits until every request of want has ended, or fails the test.
func (e *ends) wait(t *testing.T, want map[string]string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e.mu.Lock()
		n := 0
		for id := range want {
			if e.got[id] != nil {
				n++
			}
		}
		e.mu.Unlock()
		if n == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests ended within %s", n, len(want), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check fails the test unless every request of want ended once, succeeded
// with its result, and returns when the last one ended.
func (e *ends) check(t *testing.T, want map[string]string) time.Time {
	t.Helper()
	last, _ := e.checkRepeats(t, want, false)
	return last
}

// checkRepeats is check; with repeatsOK, a request may have called back
// more than once, as long as every callback said the same: the handlers
// and the callback run at least once when the store goes away between the
// end and the record of their run (docs/callbacks.md). It also returns how
// many callbacks were repeats.
func (e *ends) checkRepeats(t *testing.T, want map[string]string, repeatsOK bool) (time.Time, int) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // a second callback would come now
	e.mu.Lock()
	defer e.mu.Unlock()
	var last time.Time
	repeats := 0
	for id, result := range want {
		g := e.got[id]
		if g != nil {
			repeats += g.count - 1
		}
		switch {
		case g == nil:
			t.Errorf("request %s never ended", id)
		case g.count != 1 && !repeatsOK:
			t.Errorf("request %s ended %d times", id, g.count)
		case g.differ:
			t.Errorf("request %s called back %d times, not all with the same state and result", id, g.count)
		case g.state != "succeeded" || g.result != result:
			t.Errorf("request %s ended %s with %q, want succeeded with %q", id, g.state, g.result, result)
		default:
			if g.at.After(last) {
				last = g.at
			}
		}
	}
	return last, repeats
}

// startAll starts n requests of flow, the i-th with input(i), each with a
// completion callback to e, and returns their ids with the results want(i).
func (s *stack) startAll(t *testing.T, flow string, n int, e *ends, input, want func(int) string) map[string]string {
	t.Helper()
	ids := make(map[string]string, n)
	for i := range n {
		r := s.do(t, http.MethodPost, "/function/"+flow, []byte(input(i)), map[string]string{"X-Faas-Flow-Callback-Url": e.srv.URL})
		id := r.header.Get("X-Faas-Flow-Reqid")
		if r.status != http.StatusAccepted || id == "" {
			t.Fatalf("start %d: %d %s", i, r.status, r.body)
		}
		ids[id] = want(i)
	}
	return ids
}

// redelivered sums the redelivered counts of the nodes of requests ids.
func (s *stack) redelivered(t *testing.T, flow string, ids map[string]string) int {
	t.Helper()
	total := 0
	for id := range ids {
		var st struct {
			Nodes map[string]struct {
				Redelivered int `json:"redelivered"`
			} `json:"nodes"`
		}
		r := s.do(t, http.MethodGet, "/function/"+flow+"/flow/"+id+"/state", nil, nil)
		if err := json.Unmarshal(r.body, &st); err != nil {
			t.Fatalf("state of %s: %d %s", id, r.status, r.body)
		}
		for _, n := range st.Nodes {
			total += n.Redelivered
		}
	}
	return total
}

func fanInInput(i int) string { return fmt.Sprintf("k%03d,m,n", i) }
func fanInWant(i int) string  { return fmt.Sprintf("<K%03d+M+N#3>", i) }

// TestKilledFlowProcessUnderLoadEveryRequestEndsOnce kills the flow's
// process (SIGKILL) while 40 requests run their 3-second node, three times
// over: every request ends, exactly once, with its own result. The
// recovery time (from the kill to the last end) is logged against its
// bound: a node whose process died is sent again within node_lease (4 s
// here) of its last renewal, or 10 s when the reconciler's leader died
// with it, plus reconcile_interval (1 s); then it runs its 3 seconds again.
func TestKilledFlowProcessUnderLoadEveryRequestEndsOnce(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "resilience.yml"))
	e := newEnds(t)
	const perRound = 40
	bound := 10*time.Second + time.Second + 3*time.Second
	for round := 1; round <= 3; round++ {
		ids := s.startAll(t, "slow", perRound, e,
			func(i int) string { return fmt.Sprintf("%d.%d:", round, i) },
			func(i int) string { return fmt.Sprintf("%d.%d:abc", round, i) })
		time.Sleep(1500 * time.Millisecond) // node a done, b running in most
		pid := s.pid(t, "slow")
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e.wait(t, ids, 3*time.Minute)
		last := e.check(t, ids)
		recovery := last.Sub(killed)
		t.Logf("round %d: %d requests, all ended once %s after the kill (bound %s + the time to restart the process); %d hops sent again by the reconciler",
			round, perRound, recovery.Round(100*time.Millisecond), bound, s.redelivered(t, "slow", ids))
		if recovery > 4*bound {
			t.Errorf("round %d: recovery took %s, far over its bound %s", round, recovery, bound)
		}
	}
	if left := s.workObjects(t); len(left) != 0 {
		t.Fatalf("objects left: %v", left)
	}
}

// TestEtcdOutageDuringRequestsEveryRequestEnds stops the state store (a
// real etcd, as in production) for 15 s while 200 requests of a
// fan-out/fan-in flow run: every request ends with its own result. A
// request whose end was written just before the outage, and whose
// handlers ran but could not be recorded as run, has them run again by
// the reconciler once etcd is back: its callback may come twice, the same.
func TestEtcdOutageDuringRequestsEveryRequestEnds(t *testing.T) {
	etcd := testenv.StartEtcd(t, testenv.EtcdConfig{})
	s := startStackWith(t, func(o *gateway.LocalOptions) { o.EtcdEndpoints = etcd.Endpoints() },
		filepath.Join("testdata", "resilience.yml"))
	e := newEnds(t)
	var ids map[string]string
	started := make(chan struct{})
	go func() {
		defer close(started)
		ids = s.startAll(t, "fanin", 100, e, fanInInput, fanInWant)
	}()
	<-started
	etcd.Stop()
	t.Log("etcd stopped")
	time.Sleep(15 * time.Second)
	etcd.Restart()
	t.Log("etcd restarted")
	more := s.startAll(t, "fanin", 100, e, func(i int) string { return fanInInput(100 + i) }, func(i int) string { return fanInWant(100 + i) })
	for id, want := range more {
		ids[id] = want
	}
	e.wait(t, ids, 3*time.Minute)
	_, repeats := e.checkRepeats(t, ids, true)
	t.Logf("200 requests ended, each with its own result; %d callbacks repeated (the store went away before their end's handlers were recorded); %d hops sent again by the reconciler",
		repeats, s.redelivered(t, "fanin", ids))
}

// TestAtMostOnceDeliveryWithFailingHopsEveryRequestEndsOnce runs the local
// stack as OpenFaaS CE delivers (acknowledged before the call, never
// retried, one call at a time) and fails a fifth of the queued calls on
// purpose: 200 requests of a fan-out/fan-in flow all end, exactly once,
// with their own results; the reconciler sent the lost hops again.
func TestAtMostOnceDeliveryWithFailingHopsEveryRequestEndsOnce(t *testing.T) {
	s := startStackWith(t, func(o *gateway.LocalOptions) {
		o.QueueDelivery, o.QueueFailRate = gateway.DeliverAtMostOnce, 0.2
	}, filepath.Join("testdata", "resilience.yml"))
	e := newEnds(t)
	ids := s.startAll(t, "fanin", 200, e, fanInInput, fanInWant)
	e.wait(t, ids, 5*time.Minute)
	e.check(t, ids)
	n := s.redelivered(t, "fanin", ids)
	t.Logf("200 requests ended once; %d hops sent again by the reconciler", n)
	if n == 0 {
		t.Fatal("no hop was sent again: the failing calls were not lost")
	}
}

// TestKilledFlowProcessUnderAtMostOnceDeliveryEveryRequestEndsOnce is the
// kill of the test above on a queue that delivers at most once, one call at
// a time (OpenFaaS CE): the call the kill cut short is never retried by
// the queue, so only the reconciler can finish its request, once the
// node's lease and its own election (its leader died too) have run out.
func TestKilledFlowProcessUnderAtMostOnceDeliveryEveryRequestEndsOnce(t *testing.T) {
	s := startStackWith(t, func(o *gateway.LocalOptions) { o.QueueDelivery = gateway.DeliverAtMostOnce },
		filepath.Join("testdata", "resilience.yml"))
	e := newEnds(t)
	ids := s.startAll(t, "slow", 5, e,
		func(i int) string { return fmt.Sprintf("%d:", i) },
		func(i int) string { return fmt.Sprintf("%d:abc", i) })
	time.Sleep(1500 * time.Millisecond) // the first b runs; the others wait in the queue
	pid := s.pid(t, "slow")
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.wait(t, ids, 3*time.Minute)
	last := e.check(t, ids)
	n := s.redelivered(t, "slow", ids)
	t.Logf("5 requests ended once %s after the kill (one call at a time: 5 x 3 s of node b, plus recovery); %d hops sent again by the reconciler",
		last.Sub(killed).Round(100*time.Millisecond), n)
	if n == 0 {
		t.Fatal("no hop was sent again, yet the queue does not retry the call the kill cut short")
	}
}
