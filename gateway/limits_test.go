package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMemoryLimitReadsAKubernetesQuantity(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256Mi", 256 << 20, true},
		{"64Mi", 64 << 20, true},
		{"1Gi", 1 << 30, true},
		{"1.5Gi", 3 << 29, true},
		{"512Ki", 512 << 10, true},
		{"512M", 512e6, true},
		{"1G", 1e9, true},
		{"2k", 2000, true},
		{"268435456", 268435456, true},
		{"1e9", 1e9, true},
		{" 128Mi ", 128 << 20, true},
		{"0.5Ki", 512, true},
		{"", 0, false},
		{"0", 0, false},
		{"0Mi", 0, false},
		{"-1Gi", 0, false},
		{"lots", 0, false},
		{"Mi", 0, false},
		{"12MB", 0, false},
		{"NaN", 0, false},
		{"InfGi", 0, false},
		{"1e30", 0, false},
	}
	for _, tt := range tests {
		got, ok := MemoryLimit(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("MemoryLimit(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestGoMemLimitLeavesATenthOfTheLimitForTheRest(t *testing.T) {
	tests := []struct {
		limit int64
		want  string
	}{
		{64 << 20, "60397974"},
		{1 << 30, "966367638"},
		{10, "9"},
	}
	for _, tt := range tests {
		if got := GoMemLimit(tt.limit); got != tt.want {
			t.Errorf("GoMemLimit(%d) = %s, want %s", tt.limit, got, tt.want)
		}
	}
}

// neighbour calls fn through the gateway every 50 ms until the returned
// function is called (or the test ends), which reports the calls answered
// 200 and the others, logging these.
func neighbour(t *testing.T, l *Local, fn string) func() (ok, failed int) {
	var okN, failedN int
	var failures []string
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 30 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := client.Get(l.URL() + "/function/" + fn + "/")
			if err != nil {
				failedN++
				failures = append(failures, err.Error())
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failedN++
				failures = append(failures, fmt.Sprintf("%d %q", resp.StatusCode, body))
				continue
			}
			okN++
		}
	}()
	var once sync.Once
	end := func() { once.Do(func() { close(stop); <-done }) }
	t.Cleanup(end)
	return func() (int, int) {
		end()
		for _, f := range failures {
			t.Logf("%s answered %s", fn, f)
		}
		return okN, failedN
	}
}

// untilTrue polls cond every 20 ms for d.
func untilTrue(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// answersAgain waits until fn answers 200 from a process other than old.
func answersAgain(t *testing.T, l *Local, fn string, old int) {
	t.Helper()
	inst, _ := l.sup.Get(fn)
	ok := untilTrue(20*time.Second, func() bool {
		p := inst.PID()
		return p != 0 && p != old && do(t, "GET", l.URL()+"/function/"+fn+"/", "", nil).code == 200
	})
	if !ok {
		t.Fatalf("%s not restarted", fn)
	}
}

func functionLogHolds(l *Local, fn, part string) bool {
	inst, _ := l.sup.Get(fn)
	for _, line := range inst.Logs(0) {
		if strings.Contains(line.Text, part) {
			return true
		}
	}
	return false
}

func processGone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// TestFunctionOverItsMemoryLimitIsKilledCountedAndRestarted deploys a
// function with limits.memory 64Mi that takes 1 GiB: the call fails (502),
// its process is killed, which its log and faasflow_function_kills_total
// report, and it is restarted, while another function answers every call.
func TestFunctionOverItsMemoryLimitIsKilledCountedAndRestarted(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-hog", extra: "    limits:\n      memory: 64Mi\n"}, fnDef{name: "f-hog-neighbour"})
	if r := do(t, "GET", l.URL()+"/function/f-hog/env?k=GOMEMLIMIT", "", nil); r.body != GoMemLimit(64<<20) {
		t.Errorf("GOMEMLIMIT = %q (%d), want 90%% of 64Mi", r.body, r.code)
	}
	inst, _ := l.sup.Get("f-hog")
	pid := inst.PID()
	stop := neighbour(t, l, "f-hog-neighbour")
	series := `faasflow_function_kills_total{function_name="f-hog",reason="memory"}`
	before := metricValue(scrape(t, l), series)
	r := do(t, "POST", l.URL()+"/function/f-hog/alloc?mb=1024", "", nil)
	if r.code != http.StatusBadGateway {
		t.Fatalf("call past the memory limit = %d %q, want 502", r.code, r.body)
	}
	if !untilTrue(10*time.Second, func() bool { return processGone(pid) }) {
		t.Fatalf("pid %d still running", pid)
	}
	if n := metricValue(scrape(t, l), series) - before; n != 1 {
		t.Errorf("%s grew by %v, want 1", series, n)
	}
	if !functionLogHolds(l, "f-hog", "killed: ") {
		t.Errorf("the function's log does not say it was killed: %+v", inst.Logs(0))
	}
	for _, line := range inst.Logs(0) {
		if strings.Contains(line.Text, "killed: ") {
			t.Log(line.Text)
		}
	}
	answersAgain(t, l, "f-hog", pid)
	if ok, failed := stop(); failed != 0 || ok == 0 {
		t.Errorf("the neighbour answered %d calls and failed %d, want none failed", ok, failed)
	}
}

// TestRunawayCallIsAnswered504AndItsProcessStopped calls a function with
// exec_timeout 1s on a handler that spins for 30 s: the caller gets 504 at
// the timeout, and the process is gone within KillGrace (1 s) and 2 s
// more, counted as a kill and restarted, while another function answers
// every call.
func TestRunawayCallIsAnswered504AndItsProcessStopped(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-spin", env: map[string]string{"exec_timeout": "1s", "write_timeout": "60s"}}, fnDef{name: "f-spin-neighbour"})
	inst, _ := l.sup.Get("f-spin")
	pid := inst.PID()
	stop := neighbour(t, l, "f-spin-neighbour")
	series := `faasflow_function_kills_total{function_name="f-spin",reason="timeout"}`
	before := metricValue(scrape(t, l), series)
	start := time.Now()
	r := do(t, "GET", l.URL()+"/function/f-spin/spin?d=30s", "", nil)
	timedOut := time.Now()
	if r.code != http.StatusGatewayTimeout || timedOut.Sub(start) > 5*time.Second {
		t.Fatalf("runaway call = %d after %s, want 504 after about 1s", r.code, timedOut.Sub(start))
	}
	if !untilTrue(3*time.Second, func() bool { return processGone(pid) }) {
		t.Fatalf("pid %d still running %s after its call timed out", pid, time.Since(timedOut))
	}
	t.Logf("the runaway process was gone %s after its call timed out", time.Since(timedOut))
	if n := metricValue(scrape(t, l), series) - before; n != 1 {
		t.Errorf("%s grew by %v, want 1", series, n)
	}
	if !functionLogHolds(l, "f-spin", "ran past the exec timeout") {
		t.Errorf("the function's log does not say why it was stopped: %+v", inst.Logs(0))
	}
	answersAgain(t, l, "f-spin", pid)
	if ok, failed := stop(); failed != 0 || ok == 0 {
		t.Errorf("the neighbour answered %d calls and failed %d, want none failed", ok, failed)
	}
}
