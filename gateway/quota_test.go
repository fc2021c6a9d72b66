package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodFlowHandler is a flow of two nodes, each taking a moment.
const floodFlowHandler = `package function

import (
	"time"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define builds one -> two.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("one").Modify(func(d []byte) ([]byte, error) { time.Sleep(100 * time.Millisecond); return append(d, "+1"...), nil })
	dag.Node("two").Modify(func(d []byte) ([]byte, error) { time.Sleep(100 * time.Millisecond); return append(d, "+2"...), nil })
	dag.Edge("one", "two")
	return nil
}
`

// postNoFail is an HTTP POST that reports its failure instead of failing the
// test, for use from other goroutines.
func postNoFail(url, body string, header map[string]string) (int, http.Header, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// deployFloodStack deploys flood-flow (a real flow, bounded to two
// running requests) and neighbour (the test worker) on l.
func deployFloodStack(t *testing.T, l *Local) {
	t.Helper()
	deploy(t, l, fnDef{name: "neighbour"})
	dir := t.TempDir()
	flowDir := filepath.Join(dir, "flood-flow")
	if err := os.MkdirAll(flowDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flowDir, "handler.go"), []byte(floodFlowHandler), 0o644); err != nil {
		t.Fatal(err)
	}
	stack := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(stack, []byte(fmt.Sprintf(`version: 1.0
provider: {name: openfaas}
functions:
  flood-flow:
    lang: faas-flow
    handler: %s
    image: flood-flow:1
    environment:
      max_running_requests: "2"
`, flowDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log strings.Builder
	if err := l.Deploy(ctx, stack, &log); err != nil {
		t.Fatalf("deploy: %v\n%s", err, log.String())
	}
}

// flood posts waves of n new async requests of flood-flow at once, a
// wave every gap, each request with its own id, and returns the ids
// accepted (202) and the number refused with 429 and a Retry-After; any
// other answer fails the test.
func flood(t *testing.T, l *Local, waves, n int, gap time.Duration) (accepted []string, refused int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []string
	for i := range waves * n {
		if i > 0 && i%n == 0 {
			time.Sleep(gap)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("flood-%d", i)
			code, h, body, err := postNoFail(l.URL()+"/async-function/flood-flow", id, map[string]string{"X-Faas-Flow-Reqid": id})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err.Error())
			case code == http.StatusAccepted:
				accepted = append(accepted, id)
			case code == http.StatusTooManyRequests && h.Get("Retry-After") != "":
				refused++
			default:
				errs = append(errs, fmt.Sprintf("%s: %d %q", id, code, body))
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("the flood got answers other than 202 and 429 with Retry-After:\n%s", strings.Join(errs, "\n"))
	}
	return accepted, refused
}

// TestAFloodOnABoundedFlowIsRefusedWithoutLosingOrSlowingAnything floods
// a flow bounded both in the queue (--queue-max-per-function) and in the
// requests it runs at once (max_running_requests): the excess is answered
// 429 with Retry-After, every request accepted finishes with its result
// (the flow's own hops found room in the queue, and the queued starts the
// flow answered 429 were kept and made again), and a neighbour keeps
// answering, sync and through the queue, within normal time meanwhile.
func TestAFloodOnABoundedFlowIsRefusedWithoutLosingOrSlowingAnything(t *testing.T) {
	o := fastOptions(t.TempDir())
	o.QueueMaxPerFunction = 8
	o.QueueWorkers = 4
	l := startLocal(t, o)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(l.StateDir(), "logs", "flood-flow.log"))
			t.Logf("flood-flow log:\n%s", b)
		}
	})
	deployFloodStack(t, l)

	stop := make(chan struct{})
	neighbour := make(chan string, 1)
	go func() { neighbour <- watchNeighbour(l, stop) }()
	accepted, refused := flood(t, l, 5, 20, 500*time.Millisecond)
	close(stop)
	if msg := <-neighbour; msg != "" {
		t.Error(msg)
	}
	if refused == 0 || len(accepted) == 0 {
		t.Fatalf("%d accepted, %d refused: want both", len(accepted), refused)
	}
	t.Logf("%d accepted, %d refused with 429", len(accepted), refused)
	deadline := time.Now().Add(40 * time.Second)
	for _, id := range accepted {
		want := id + "+1+2"
		for {
			r := sys(t, l, http.MethodGet, "/function/flood-flow/flow/"+id+"/result", "") // the flow wants the login
			if r.code == http.StatusOK && r.body == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("accepted request %s did not finish: %d %q", id, r.code, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// watchNeighbour calls neighbour, sync and async, until stop is closed,
// and reports a call slower than normal ("" when none was).
func watchNeighbour(l *Local, stop chan struct{}) string {
	const normal = 3 * time.Second
	marker := filepath.Join(l.StateDir(), "neighbour-async")
	for i := 0; ; i++ {
		select {
		case <-stop:
			return ""
		default:
		}
		start := time.Now()
		file := fmt.Sprintf("%s-%d", marker, i)
		code, _, body, err := postNoFail(l.URL()+"/async-function/neighbour/fail-until?n=1&file="+file, "", nil)
		if err != nil || code != http.StatusAccepted {
			return fmt.Sprintf("async call of the neighbour: %d %q %v", code, body, err)
		}
		if code, _, body, err := postNoFail(l.URL()+"/function/neighbour/echo", "x", nil); err != nil || code != http.StatusOK {
			return fmt.Sprintf("sync call of the neighbour: %d %q %v", code, body, err)
		}
		for {
			if _, err := os.Stat(file); err == nil {
				break
			}
			if time.Since(start) > normal {
				return fmt.Sprintf("the neighbour's async call took more than %s during the flood", normal)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if d := time.Since(start); d > normal {
			return fmt.Sprintf("the neighbour's calls took %s during the flood", d)
		}
	}
}

func TestAsyncCallsPastAFunctionsShareOfTheQueueAreAnswered429(t *testing.T) {
	o := fastOptions(t.TempDir())
	o.QueueMaxPerFunction = 4 // new calls refused from 3 queued
	o.QueueDelivery = DeliverAtMostOnce
	o.NoQueueWorker = true // every call stays queued
	l := startLocal(t, o)
	tests := []struct {
		name, fn  string
		wantCode  int
		wantRetry bool
	}{
		{"first call", "ghost", http.StatusAccepted, false},
		{"second call, namespaced", "ghost.openfaas-fn", http.StatusAccepted, false},
		{"third call", "ghost", http.StatusAccepted, false},
		{"fourth call, past three quarters of the bound", "ghost", http.StatusTooManyRequests, true},
		{"the same, namespaced", "ghost.openfaas-fn", http.StatusTooManyRequests, true},
		{"another function", "other", http.StatusAccepted, false},
	}
	for _, tc := range tests {
		r := do(t, http.MethodPost, l.URL()+"/async-function/"+tc.fn, "x", nil)
		if r.code != tc.wantCode || (r.header.Get("Retry-After") != "") != tc.wantRetry {
			t.Errorf("%s: %d Retry-After %q %q, want %d (Retry-After: %v)", tc.name, r.code, r.header.Get("Retry-After"), r.body, tc.wantCode, tc.wantRetry)
		}
	}
}

func TestQueueAdmitBelowLeavesAQuarterOfTheBoundToHops(t *testing.T) {
	tests := []struct{ bound, want int64 }{{0, 0}, {-1, 0}, {1, 1}, {2, 1}, {4, 3}, {8, 6}, {100, 75}, {101, 75}}
	for _, tc := range tests {
		if got := QueueAdmitBelow(tc.bound); got != tc.want {
			t.Errorf("QueueAdmitBelow(%d) = %d, want %d", tc.bound, got, tc.want)
		}
	}
}
