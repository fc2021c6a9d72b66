package e2e

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/gateway/api"
)

// logBook keeps every log line of one function from the moment it is
// followed, whichever replica wrote it (the line's instance is its pid).
type logBook struct {
	mu    sync.Mutex
	lines []api.LogMessage
}

// follow follows the logs of fn until the test ends.
func (s *stack) follow(t *testing.T, fn string) *logBook {
	t.Helper()
	b := &logBook{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Client().FollowLogs(ctx, fn, 0, func(m api.LogMessage) error {
			b.mu.Lock()
			b.lines = append(b.lines, m)
			b.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

func (b *logBook) snapshot() []api.LogMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lines)
}

// waitFor waits until a line written after since contains text, and
// returns the pid of the process that wrote it.
func (b *logBook) waitFor(t *testing.T, text string, since time.Time, timeout time.Duration) (int, time.Time) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range b.snapshot() {
			if strings.Contains(l.Text, text) && !l.Timestamp.Before(since) {
				pid, _ := strconv.Atoi(l.Instance)
				return pid, l.Timestamp
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q within %s", text, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ranLine is what the test flows write each time a node's code runs.
var ranLine = regexp.MustCompile(`^ran (\S+) of (\S+)$`)

// runs maps each request to its nodes and, for each, the pids of the
// processes that ran its code (once each time it ran).
func runs(lines []api.LogMessage) map[string]map[string][]int {
	out := map[string]map[string][]int{}
	for _, l := range lines {
		m := ranLine.FindStringSubmatch(l.Text)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(l.Instance)
		if out[m[2]] == nil {
			out[m[2]] = map[string][]int{}
		}
		out[m[2]][m[1]] = append(out[m[2]][m[1]], pid)
	}
	return out
}

// waitRuns waits until the logs show want runs of node code for the
// requests ids (the last lines may still be on their way after the ends).
func (b *logBook) waitRuns(t *testing.T, ids map[string]string, want int) map[string]map[string][]int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := runs(b.snapshot())
		n := 0
		for id := range ids {
			for _, pids := range r[id] {
				n += len(pids)
			}
		}
		if n >= want || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAvailable waits until fn runs want replicas, all ready, and returns
// their pids.
func (s *stack) waitAvailable(t *testing.T, fn string, want uint64) []int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Client().Function(context.Background(), fn)
		if err == nil && st.Replicas == want && st.AvailableReplicas == want {
			return s.ReplicaPIDs(fn)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d replicas available (%v), want %d", fn, st.AvailableReplicas, st.Replicas, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFanOutOnThreeReplicasSpreadsHopsOverEveryProcessAndEachRequestEndsOnce
// deploys a fan-out/fan-in flow whose stack file asks for 3 replicas and
// runs 150 requests: the node runs, read from the function's logs, landed
// on each of the 3 processes, each node of each request ran once, and every
// request ended once with its own result.
func TestFanOutOnThreeReplicasSpreadsHopsOverEveryProcessAndEachRequestEndsOnce(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "spread.yml"))
	pids := s.waitAvailable(t, "spread", 3)
	book := s.follow(t, "spread")
	e := newEnds(t)
	const n, nodes = 150, 6 // split, up for each of 3 items, count, wrap
	started := time.Now()
	ids := s.startAll(t, "spread", n, e, fanInInput, fanInWant)
	e.wait(t, ids, time.Minute)
	e.check(t, ids)
	took := time.Since(started)
	r := book.waitRuns(t, ids, n*nodes)

	perPID := map[int]int{}
	onAll := 0
	for id := range ids {
		if len(r[id]) != nodes {
			t.Errorf("request %s: %d nodes ran, want %d: %v", id, len(r[id]), nodes, r[id])
		}
		used := map[int]bool{}
		for node, ran := range r[id] {
			if len(ran) != 1 {
				t.Errorf("request %s: node %s ran %d times (pids %v), want once", id, node, len(ran), ran)
			}
			for _, pid := range ran {
				perPID[pid]++
				used[pid] = true
			}
		}
		if len(used) == len(pids) {
			onAll++
		}
	}
	for _, pid := range pids {
		if perPID[pid] == 0 {
			t.Errorf("replica pid %d ran no node: %v", pid, perPID)
		}
	}
	if len(perPID) != len(pids) {
		t.Errorf("nodes ran in pids %v, want only the replicas %v", perPID, pids)
	}
	t.Logf("%d requests ended once, each with its own result, in %s; node runs per replica pid: %v; %d requests had nodes run on all 3 replicas",
		n, took.Round(100*time.Millisecond), perPID, onAll)
}

// heldLine is the flow's log line for a delivery refused because another
// delivery holds the node: status 503, "hop is being processed by another
// delivery: node NODE until …".
var heldLine = regexp.MustCompile(`request=(\S+) status=503 err=".*hop is being processed by another delivery: node (\S+) until `)

// TestDuplicatedHopRacesOnTwoReplicasAndItsNodeRunsOnce delivers every
// queued hop twice at once to a flow with 2 replicas. The two copies of
// the hop of the 1.5-second node b race: one claims the node and runs it,
// the other finds it held and is answered 503. The copies usually reach
// different replicas (the second goes to the replica with fewer calls in
// flight, which is the other one unless the replicas are unevenly busy
// with earlier requests' node b); the test logs how often they did, and
// needs it to have happened at least once. Node b ran once per request,
// and every request ended once with its own result.
func TestDuplicatedHopRacesOnTwoReplicasAndItsNodeRunsOnce(t *testing.T) {
	s := startStackWith(t, func(o *gateway.LocalOptions) { o.QueueDuplicateRate = 1 }, filepath.Join("testdata", "race.yml"))
	pids := s.waitAvailable(t, "race", 2)
	book := s.follow(t, "race")
	e := newEnds(t)
	const n = 10
	ids := map[string]string{}
	for i := range n {
		// One request at a time, so that the copies of one hop meet each
		// other rather than the copies of another request's hop.
		maps.Copy(ids, s.startAll(t, "race", 1, e,
			func(int) string { return fmt.Sprintf("%d:", i) },
			func(int) string { return fmt.Sprintf("%d:abc", i) }))
		time.Sleep(100 * time.Millisecond)
	}
	e.wait(t, ids, time.Minute)
	e.check(t, ids)
	r := book.waitRuns(t, ids, 3*n)

	held := map[string]int{} // request -> pid refused the copy of b's hop
	for _, l := range book.snapshot() {
		if m := heldLine.FindStringSubmatch(l.Text); m != nil && m[2] == "b" {
			held[m[1]], _ = strconv.Atoi(l.Instance)
		}
	}
	across := 0
	for id := range ids {
		for _, node := range []string{"a", "b", "c"} {
			if len(r[id][node]) != 1 {
				t.Errorf("request %s: node %s ran %d times (pids %v), want once", id, node, len(r[id][node]), r[id][node])
			}
		}
		refused, ok := held[id]
		switch {
		case !ok:
			t.Errorf("request %s: no copy of the hop of b was refused as held: the copies did not race", id)
		case len(r[id]["b"]) == 1 && refused != r[id]["b"][0]:
			across++
		}
	}
	if across == 0 {
		t.Errorf("the copies of b's hop never met on two replicas (%d requests)", n)
	}
	t.Logf("%d requests, every hop delivered twice at once to replicas %v: node b ran once per request; the second copy was refused as held in %d requests, by the other replica in %d",
		n, pids, len(held), across)
}

// TestReconcilerLeaderKilledOnTwoReplicasTheOtherTakesOverAndEveryRequestEnds
// runs a fan-out/fan-in flow on 2 replicas behind a queue that delivers at
// most once and fails a tenth of its calls, so requests stall until the
// reconciler sends their lost hops again. Once the elected reconciler has
// started doing so, its process is killed (SIGKILL): the other replica
// takes the election over, sends the stalled hops again, and every
// request ends once with its own result.
func TestReconcilerLeaderKilledOnTwoReplicasTheOtherTakesOverAndEveryRequestEnds(t *testing.T) {
	s := startStackWith(t, func(o *gateway.LocalOptions) {
		o.QueueDelivery, o.QueueFailRate = gateway.DeliverAtMostOnce, 0.1
	}, filepath.Join("testdata", "elect.yml"))
	pids := s.waitAvailable(t, "elect", 2)
	book := s.follow(t, "elect")
	const leads, resent = "this process reconciles the flow", "hop sent again"
	leader, _ := book.waitFor(t, leads, time.Time{}, 30*time.Second)
	if !slices.Contains(pids, leader) {
		t.Fatalf("the reconciler's leader %d is not a replica %v", leader, pids)
	}
	other := pids[0]
	if other == leader {
		other = pids[1]
	}
	e := newEnds(t)
	const n = 30
	started := time.Now()
	ids := s.startAll(t, "elect", n, e, fanInInput, fanInWant)
	book.waitFor(t, resent, started, 30*time.Second) // requests stalled; the leader recovers them
	endedBefore := e.ended(ids)
	if err := syscall.Kill(leader, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if endedBefore == n {
		t.Fatal("every request ended before the leader was killed: nothing was left for the next leader")
	}
	next, tookOver := book.waitFor(t, leads, killed, 40*time.Second)
	if next != other {
		t.Fatalf("the reconciler's leadership went to pid %d, want the other replica %d", next, other)
	}
	// A hop lost again and again waits twice as long before each resend
	// (2 s, 4 s, 8 s…): the bound leaves room for a hop lost four times.
	e.wait(t, ids, 90*time.Second)
	last := e.check(t, ids)
	byNext := 0
	for _, l := range book.snapshot() {
		if strings.Contains(l.Text, resent) && l.Instance == strconv.Itoa(next) {
			byNext++
		}
	}
	if byNext == 0 {
		t.Error("the new leader sent no hop again")
	}
	t.Logf("%d requests; %d had ended when leader pid %d was killed; pid %d took the reconciler over %s later and sent %d hops again; all ended once with their own results %s after the kill",
		n, endedBefore, leader, next, tookOver.Sub(killed).Round(100*time.Millisecond), byNext, last.Sub(killed).Round(100*time.Millisecond))
}

// ended counts the requests of ids that have ended.
func (e *ends) ended(ids map[string]string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for id := range ids {
		if e.got[id] != nil {
			n++
		}
	}
	return n
}
