package supervisor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitAvailable waits until inst has n ready replicas.
func waitAvailable(t *testing.T, inst *Instance, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for inst.AvailableReplicas() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d replicas ready, want %d", inst.AvailableReplicas(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listenAddrs calls inst n times, one call at a time, and counts the calls
// each listen address (each replica) answered.
func listenAddrs(t *testing.T, inst *Instance, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		code, addr, err := call(t, inst, "GET", "/env?k=listen_addr", "")
		if err != nil || code != 200 {
			t.Fatalf("call = %d %q %v", code, addr, err)
		}
		seen[addr]++
	}
	return seen
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func TestReplicasAreProcessesOfTheirOwnThatTakeCallsInTurn(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	waitAvailable(t, inst, 3)
	pids := inst.PIDs()
	if len(pids) != 3 || pids[0] == pids[1] || pids[1] == pids[2] || pids[0] == pids[2] {
		t.Fatalf("pids %v, want 3 distinct processes", pids)
	}
	seen := listenAddrs(t, inst, 9)
	if len(seen) != 3 {
		t.Fatalf("calls answered by %v, want 3 replicas with 3 calls each", seen)
	}
	for addr, n := range seen {
		if n != 3 {
			t.Errorf("replica on %s took %d of 9 calls one at a time, want 3 (turns)", addr, n)
		}
	}
}

func TestScalingStartsAndStopsOnlyTheReplicasItAddsOrRemoves(t *testing.T) {
	s := newSup(t)
	ctx := context.Background()
	if err := s.Start(ctx, Spec{Name: "w", Binary: workerBin}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	waitAvailable(t, inst, 1)
	first := inst.PID()
	steps := []struct {
		name string
		n    int
	}{
		{"up to three", 3},
		{"down to two", 2},
		{"up to four", 4},
		{"down to one", 1},
	}
	for _, st := range steps {
		before := inst.PIDs()
		if err := s.Scale(ctx, "w", st.n); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		waitAvailable(t, inst, st.n)
		after := inst.PIDs()
		if inst.Replicas() != st.n || len(after) != st.n || after[0] != first {
			t.Fatalf("%s: replicas %d, pids %v (first was %d)", st.name, inst.Replicas(), after, first)
		}
		for k, pid := range before {
			switch {
			case k < st.n && after[k] != pid:
				t.Errorf("%s: replica %d was restarted (pid %d -> %d)", st.name, k+1, pid, after[k])
			case k >= st.n && alive(pid):
				t.Errorf("%s: replica %d (pid %d) still runs", st.name, k+1, pid)
			}
		}
	}
	if err := s.Scale(ctx, "w", 0); err == nil {
		t.Error("scaling to 0 replicas with Scale did not fail (Stop does that)")
	}
}

func TestSupervisorLinesNameTheReplicaOnlyWhenThereAreSeveral(t *testing.T) {
	tests := []struct {
		name     string
		replicas int
		want     []string
	}{
		{"one replica logs as before", 1, []string{"started pid "}},
		{"each of several is named", 2, []string{"replica 1: started pid ", "replica 2: started pid "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSup(t)
			if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin, Replicas: tt.replicas}); err != nil {
				t.Fatal(err)
			}
			inst, _ := s.Get("w")
			waitAvailable(t, inst, tt.replicas)
			pids := inst.PIDs()
			lines, _ := s.Logs("w", 0)
			for k, prefix := range tt.want {
				want := prefix + strconv.Itoa(pids[k])
				found, fromProcess := false, false
				for _, l := range lines {
					found = found || strings.HasPrefix(l.Text, want) && l.Instance == "supervisor"
					fromProcess = fromProcess || l.Instance == strconv.Itoa(pids[k])
				}
				if !found || !fromProcess {
					t.Errorf("line %q found %v, a line of pid %d found %v, in %v", want, found, pids[k], fromProcess, texts(lines))
				}
			}
		})
	}
}

// fakeInstance is an Instance of the replicas given by their ports (0: a
// port nothing listens on), all ready, for tests of the spreading of calls.
func fakeInstance(t *testing.T, s *Supervisor, ports ...int) *Instance {
	t.Helper()
	inst := newInstance(s, Spec{Name: "f", Binary: "unused"}, newRing(10, ""), "", "")
	for k, p := range ports {
		if p == 0 {
			p = closedPort(t)
		}
		r := newReplica(inst, k+1)
		r.ready, r.port, r.tr = true, p, s.newTransport()
		close(r.done)
		inst.replicas = append(inst.replicas, r)
	}
	inst.want = len(ports)
	return inst
}

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

// echo is a replica that answers its name and the body it got; a call to
// /slow waits until release is closed.
func echo(t *testing.T, name string, release chan struct{}) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", name, b)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func TestACallRefusedByOneReplicaGoesToAnotherWithItsBody(t *testing.T) {
	tests := []struct {
		name string
		req  func(body string) *http.Request
	}{
		{"a streamed body, which only the first attempt could read", func(body string) *http.Request {
			req, _ := http.NewRequest("POST", "http://fn/", io.NopCloser(strings.NewReader(body)))
			return req
		}},
		{"a body in memory, which the request can make again", func(body string) *http.Request {
			req, _ := http.NewRequest("POST", "http://fn/", strings.NewReader(body))
			return req
		}},
		{"no body", func(string) *http.Request {
			req, _ := http.NewRequest("POST", "http://fn/", nil)
			return req
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSup(t)
			inst := fakeInstance(t, s, 0, echo(t, "b", nil))
			for k := range 3 {
				body := fmt.Sprintf("payload %d", k)
				req := tt.req(body)
				if req.Body == nil || req.Body == http.NoBody {
					body = ""
				}
				resp, err := inst.RoundTrip(req)
				if err != nil {
					t.Fatalf("call %d: %v", k, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := "b " + body; string(b) != want {
					t.Fatalf("call %d answered %q, want %q", k, b, want)
				}
			}
			if inst.replicas[0].ready || inst.AvailableReplicas() != 1 {
				t.Fatal("the replica that refused the connection is still in the rotation")
			}
		})
	}
}

func TestCallsGoToTheReplicaWithFewestCallsInFlight(t *testing.T) {
	s := newSup(t)
	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	inst := fakeInstance(t, s, echo(t, "a", release), echo(t, "b", release))
	slow := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://fn/slow", nil)
		resp, err := inst.RoundTrip(req)
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for busy(inst) == "" {
		if time.Now().After(deadline) {
			t.Fatal("the slow call was not counted in flight")
		}
		time.Sleep(time.Millisecond)
	}
	held := busy(inst)
	for k := range 5 {
		_, got, err := call(t, inst, "GET", "/", "")
		if err != nil || strings.HasPrefix(got, held) {
			t.Fatalf("call %d answered %q (%v) by the replica busy with the slow call (%s)", k, got, err, held)
		}
	}
	close(release)
	if got := <-slow; !strings.HasPrefix(got, held) {
		t.Fatalf("slow call answered %q", got)
	}
	if inst.replicas[0].inflight != 0 || inst.replicas[1].inflight != 0 {
		t.Fatalf("calls still counted in flight: %d, %d", inst.replicas[0].inflight, inst.replicas[1].inflight)
	}
}

// busy names the replica ("a" or "b") with a call in flight, or "".
func busy(inst *Instance) string {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	for k, r := range inst.replicas {
		if r.inflight > 0 {
			return string(rune('a' + k))
		}
	}
	return ""
}

func TestPickPrefersReadyReplicasWithFewestCallsAndTakesTurns(t *testing.T) {
	tests := []struct {
		name     string
		ready    []bool
		inflight []int
		next     int
		want     int // index, -1: none
	}{
		{"fewest calls in flight", []bool{true, true, true}, []int{2, 0, 1}, 0, 1},
		{"a replica that is not ready is skipped", []bool{true, false, true}, []int{3, 0, 1}, 0, 2},
		{"equals take turns from where the last pick stopped", []bool{true, true, true}, []int{0, 0, 0}, 2, 2},
		{"turns wrap around", []bool{true, true, true}, []int{1, 1, 0}, 1, 2},
		{"none ready", []bool{false, false}, []int{0, 0}, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := &Instance{next: tt.next}
			for k := range tt.ready {
				inst.replicas = append(inst.replicas, &replica{index: k + 1, ready: tt.ready[k], inflight: tt.inflight[k], tr: &http.Transport{}})
			}
			got := inst.pickLocked()
			switch {
			case tt.want < 0 && got != nil:
				t.Fatalf("picked replica %d, want none", got.index)
			case tt.want >= 0 && (got == nil || got.index != tt.want+1):
				t.Fatalf("picked %v, want replica %d", got, tt.want+1)
			case got != nil && inst.next != (tt.want+1)%len(tt.ready):
				t.Fatalf("next pick starts at %d, want after replica %d", inst.next, tt.want+1)
			}
		})
	}
}

// TestCallsGoOnWhenAReplicaIsKilled kills one of 2 replicas and calls at
// once: a connection to the dead process is refused, and the call goes to
// the other replica. Only a call sent on a connection kept alive from
// before the kill can fail (reset by the dying process, once bytes were
// sent, as with one replica): at most one call per kill.
func TestCallsGoOnWhenAReplicaIsKilled(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin, Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	failed := 0
	for round := range 3 {
		waitAvailable(t, inst, 2)
		victim := inst.PIDs()[round%2]
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		lost := 0
		for k := range 10 {
			code, body, err := call(t, inst, "GET", "/", "")
			switch {
			case err == nil && code == 200:
			case err != nil && !refused(err) && lost == 0:
				lost++
			default:
				t.Fatalf("round %d, call %d after the kill of pid %d: %d %q %v", round, k, victim, code, body, err)
			}
		}
		failed += lost
	}
	deadline := time.Now().Add(10 * time.Second)
	for inst.Restarts() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d restarts after 3 kills", inst.Restarts())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("3 kills, 30 calls: %d failed on a connection kept alive from before the kill", failed)
}
