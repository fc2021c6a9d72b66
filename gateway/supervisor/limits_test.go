package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// kills records what OnKill was told.
type kills struct {
	mu  sync.Mutex
	got []string
}

func (k *kills) add(fn, reason string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.got = append(k.got, fn+" "+reason)
}

func (k *kills) count(fn, reason string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, g := range k.got {
		if g == fn+" "+reason {
			n++
		}
	}
	return n
}

// newLimitSup is a supervisor that samples memory every 50 ms, gives a
// stopped process 1 s between SIGTERM and SIGKILL and records its kills;
// noCgroup makes the watchdog enforce memory limits.
func newLimitSup(t *testing.T, noCgroup bool) (*Supervisor, *kills) {
	t.Helper()
	k := &kills{}
	s, err := New(Options{
		StateDir: t.TempDir(), BackoffMin: 20 * time.Millisecond, ReadyTimeout: 15 * time.Second, StopTimeout: 2 * time.Second,
		MemoryInterval: 50 * time.Millisecond, KillGrace: time.Second, NoCgroup: noCgroup, OnKill: k.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, k
}

// startFns starts the test worker under each name, with spec's memory
// limit for the first, and returns the instances.
func startFns(t *testing.T, s *Supervisor, limit int64, names ...string) []*Instance {
	t.Helper()
	var out []*Instance
	for k, name := range names {
		spec := Spec{Name: name, Binary: workerBin, Env: map[string]string{"exec_timeout": "1s"}}
		if k == 0 {
			spec.MemoryLimit = limit
		}
		if err := s.Start(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
		inst, _ := s.Get(name)
		if code, _, err := call(t, inst, "GET", "/", ""); err != nil || code != 200 {
			t.Fatalf("%s warm-up: %d %v", name, code, err)
		}
		out = append(out, inst)
	}
	return out
}

// keepCalling calls inst every 50 ms until the returned function is
// called, which reports the calls answered 200 and the others.
func keepCalling(t *testing.T, inst *Instance) func() (ok, failed int64) {
	var okN, failedN atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			code, _, err := call(t, inst, "GET", "/", "")
			if err != nil || code != 200 {
				failures.Store(failedN.Add(1), fmt.Sprint(code, err))
				continue
			}
			okN.Add(1)
		}
	}()
	var once sync.Once
	end := func() { once.Do(func() { close(stop); <-done }) }
	t.Cleanup(end)
	return func() (int64, int64) {
		end()
		failures.Range(func(_, v any) bool { t.Logf("neighbour call failed: %v", v); return true })
		return okN.Load(), failedN.Load()
	}
}

// waitUntil polls cond every 20 ms for d.
func waitUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// gone reports whether process pid has exited and been reaped.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func logsHold(inst *Instance, part string) bool {
	for _, l := range inst.Logs(0) {
		if strings.Contains(l.Text, part) {
			return true
		}
	}
	return false
}

// backAgain waits until inst runs a process other than old that answers.
func backAgain(t *testing.T, inst *Instance, old int) {
	t.Helper()
	ok := waitUntil(20*time.Second, func() bool {
		if p := inst.PID(); p == 0 || p == old {
			return false
		}
		code, _, err := call(t, inst, "GET", "/", "")
		return err == nil && code == 200
	})
	if !ok {
		t.Fatalf("%s not restarted (pid %d, was %d)", inst.Name(), inst.PID(), old)
	}
}

// TestMemoryHogIsKilledAtItsLimitAndRestartedWhileANeighbourAnswers has
// a function with a 64 MiB limit take 1 GiB: its process is killed near
// the limit (by the watchdog, or by the kernel in a cgroup v2), which is
// logged and counted, and restarted, while another function answers every
// call meanwhile.
func TestMemoryHogIsKilledAtItsLimitAndRestartedWhileANeighbourAnswers(t *testing.T) {
	tests := []struct {
		name     string
		noCgroup bool
		wantLine string
	}{
		{"watchdog", true, "killed: resident memory"},
		{"cgroup v2", false, "cgroup v2 out-of-memory kill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, k := newLimitSup(t, tt.noCgroup)
			if !tt.noCgroup && s.cg == nil {
				t.Skipf("no cgroup v2 with a writable memory controller on this machine (%v); the watchdog case covers it", s.noCg)
			}
			fns := startFns(t, s, 64<<20, "hog", "neighbour")
			hog, neighbour := fns[0], fns[1]
			pid := hog.PID()
			stop := keepCalling(t, neighbour)
			code, body, err := call(t, hog, "POST", "/alloc?mb=1024", "")
			if err == nil && code == 200 {
				t.Fatalf("the hog was not stopped: %s", body)
			}
			if !waitUntil(10*time.Second, func() bool { return gone(pid) && k.count("hog", KillMemory) == 1 }) {
				t.Fatalf("pid %d gone %v, kills %v", pid, gone(pid), k.got)
			}
			if !logsHold(hog, tt.wantLine) {
				t.Errorf("the function's log lacks %q: %+v", tt.wantLine, hog.Logs(0))
			}
			for _, l := range hog.Logs(0) {
				if strings.Contains(l.Text, "killed:") {
					t.Log(l.Text)
				}
			}
			backAgain(t, hog, pid)
			if ok, failed := stop(); failed != 0 || ok == 0 {
				t.Errorf("the neighbour answered %d calls and failed %d, want none failed", ok, failed)
			}
		})
	}
}

// TestRunawayCallsProcessIsStoppedSoonAfterItsTimeout gives up on a call
// deaf to its end (it spins for 30 s) after 1 s: StopRunaway stops its
// process within KillGrace and 2 s more, logs and counts it, and the
// function is restarted, while another function answers every call.
func TestRunawayCallsProcessIsStoppedSoonAfterItsTimeout(t *testing.T) {
	s, k := newLimitSup(t, true)
	fns := startFns(t, s, 0, "spin", "neighbour")
	spin, neighbour := fns[0], fns[1]
	pid := spin.PID()
	stop := keepCalling(t, neighbour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://fn/spin?d=30s", nil)
	_, err := spin.RoundTrip(req)
	timedOut := time.Now()
	var ce *CallError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ce) || ce.PID != pid || ce.Function != "spin" {
		t.Fatalf("call: %v (%+v), want a deadline naming pid %d", err, ce, pid)
	}
	if !spin.StopRunaway(err) {
		t.Fatal("StopRunaway did not stop the process")
	}
	if spin.StopRunaway(err) {
		t.Error("a second StopRunaway began to stop the process again")
	}
	bound := s.opts.KillGrace + 2*time.Second
	if !waitUntil(bound, func() bool { return gone(pid) }) {
		t.Fatalf("pid %d still running %s after the call timed out", pid, time.Since(timedOut))
	}
	t.Logf("the runaway process was gone %s after the call timed out", time.Since(timedOut))
	if k.count("spin", KillTimeout) != 1 || !logsHold(spin, "ran past the exec timeout") {
		t.Errorf("kill not reported: kills %v, log %+v", k.got, spin.Logs(0))
	}
	backAgain(t, spin, pid)
	if ok, failed := stop(); failed != 0 || ok == 0 {
		t.Errorf("the neighbour answered %d calls and failed %d, want none failed", ok, failed)
	}
}

// TestStopRunawayStopsOnlyAProcessNamedByACallError: errors that name no
// live process of the function stop nothing.
func TestStopRunawayStopsOnlyAProcessNamedByACallError(t *testing.T) {
	s, k := newLimitSup(t, true)
	inst := startFns(t, s, 0, "calm")[0]
	pid := inst.PID()
	tests := []struct {
		name string
		err  error
	}{
		{"no error", nil},
		{"an error naming no process", context.DeadlineExceeded},
		{"a process that is not the function's", &CallError{Function: "calm", Replica: 1, PID: pid + 1, Err: context.DeadlineExceeded}},
		{"another replica", &CallError{Function: "calm", Replica: 2, PID: pid, Err: context.DeadlineExceeded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if inst.StopRunaway(tt.err) {
				t.Fatal("StopRunaway began to stop a process")
			}
		})
	}
	if inst.PID() != pid || gone(pid) || len(k.got) != 0 {
		t.Fatalf("pid %d -> %d, kills %v", pid, inst.PID(), k.got)
	}
}
