package gateway

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/store"
)

// scaleMinLabel is the stack YAML of a function's com.openfaas.scale.min label.
func scaleMinLabel(n string) string {
	return "    labels:\n      " + LabelScaleMin + ": \"" + n + "\"\n"
}

// waitReplicas waits until GET /system/function/NAME reports want replicas,
// all available, and returns the status.
func waitReplicas(t *testing.T, l *Local, name string, want uint64) api.FunctionStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var st api.FunctionStatus
	for {
		r := sys(t, l, "GET", "/system/function/"+name, "")
		st = api.FunctionStatus{}
		_ = json.Unmarshal([]byte(r.body), &st)
		if r.code == 200 && st.Replicas == want && st.AvailableReplicas == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: replicas %d, available %d; want %d of each (%d %s)", name, st.Replicas, st.AvailableReplicas, want, r.code, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncAddrs makes n sync calls, one at a time, and counts the calls each
// replica (by its listen address) answered.
func syncAddrs(t *testing.T, l *Local, name string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		r := do(t, "GET", l.URL()+"/function/"+name+"/env?k=listen_addr", "", nil)
		if r.code != 200 {
			t.Fatalf("call = %d %q", r.code, r.body)
		}
		seen[r.body]++
	}
	return seen
}

func TestDeployStartsTheReplicasOfItsScaleMinLabelAndCallsSpreadOverThem(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-replicas", extra: scaleMinLabel("2")})
	waitReplicas(t, l, "f-replicas", 2)
	if pids := l.ReplicaPIDs("f-replicas"); len(pids) != 2 || pids[0] == pids[1] {
		t.Fatalf("replica pids %v, want 2 processes", pids)
	}
	if seen := syncAddrs(t, l, "f-replicas", 6); len(seen) != 2 {
		t.Fatalf("sync calls answered by %v, want both replicas", seen)
	}

	cb, ch := callbackServer(t)
	for range 6 {
		if r := do(t, "POST", l.URL()+"/async-function/f-replicas/env?k=listen_addr", "", map[string]string{"X-Callback-Url": cb}); r.code != 202 {
			t.Fatalf("async = %d %q", r.code, r.body)
		}
	}
	async := map[string]bool{}
	for range 6 {
		async[waitCallback(t, ch, 20*time.Second).body] = true
	}
	if len(async) != 2 {
		t.Fatalf("queued calls answered by %v, want both replicas", async)
	}

	msgs, err := l.Client().Logs(t.Context(), "f-replicas", 0)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	for _, m := range msgs {
		logs.WriteString(m.Instance + " " + m.Text + "\n")
	}
	for _, want := range []string{"replica 1: started pid", "replica 2: started pid"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

func TestScaleAPIRunsAsManyReplicasAsAskedAndScalesFromZeroToTheLabel(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-scaling", extra: scaleMinLabel("2")})
	waitReplicas(t, l, "f-scaling", 2)
	scale := func(n string) reply {
		return sys(t, l, "POST", "/system/scale-function/f-scaling", `{"serviceName":"f-scaling","replicas":`+n+`}`)
	}
	for _, step := range []struct {
		name string
		n    uint64
	}{
		{"up to three", 3},
		{"down to one", 1},
		{"up to two", 2},
	} {
		if r := scale(strconv.FormatUint(step.n, 10)); r.code != 202 {
			t.Fatalf("%s: scale = %d %q", step.name, r.code, r.body)
		}
		waitReplicas(t, l, "f-scaling", step.n)
		if seen := syncAddrs(t, l, "f-scaling", int(2*step.n)); len(seen) != int(step.n) {
			t.Fatalf("%s: calls answered by %v, want %d replicas", step.name, seen, step.n)
		}
	}
	if r := scale("21"); r.code != 400 {
		t.Fatalf("scale over the limit = %d %q, want 400", r.code, r.body)
	}
	if r := scale("0"); r.code != 202 {
		t.Fatalf("scale to zero = %d", r.code)
	}
	if st := waitReplicas(t, l, "f-scaling", 0); st.AvailableReplicas != 0 || len(l.ReplicaPIDs("f-scaling")) != 0 {
		t.Fatalf("processes left after scaling to zero: %v", l.ReplicaPIDs("f-scaling"))
	}
	if r := do(t, "GET", l.URL()+"/function/f-scaling/", "", nil); r.code != 200 {
		t.Fatalf("call after scaling to zero = %d %q", r.code, r.body)
	}
	waitReplicas(t, l, "f-scaling", 2)
}

func TestDeployReplicasFollowTheLabelAsFaasNetesDoes(t *testing.T) {
	labels := func(v string) api.FunctionDeployment {
		return api.FunctionDeployment{Labels: &map[string]string{LabelScaleMin: v}}
	}
	tests := []struct {
		name   string
		d      api.FunctionDeployment
		old    uint64
		exists bool
		want   uint64
		fails  bool
	}{
		{"a new function without the label runs one", api.FunctionDeployment{}, 0, false, 1, false},
		{"a new function runs the label's count", labels("3"), 0, false, 3, false},
		{"an update keeps the running count", api.FunctionDeployment{}, 4, true, 4, false},
		{"an update with the label takes it", labels("2"), 4, true, 2, false},
		{"an update of a function scaled to zero runs one", api.FunctionDeployment{}, 0, true, 1, false},
		{"a label that is not a whole number is ignored", labels("two"), 4, true, 4, false},
		{"a label of zero is ignored", labels("0"), 0, false, 1, false},
		{"a label over the limit is refused", labels("21"), 0, false, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deployReplicas(tt.d, store.Function{Replicas: tt.old}, tt.exists)
			if (err != nil) != tt.fails || got != tt.want {
				t.Fatalf("replicas %d, err %v; want %d, fails %v", got, err, tt.want, tt.fails)
			}
		})
	}
}

func TestRestartedGatewayRunsTheReplicasItWasScaledTo(t *testing.T) {
	o := fastOptions(t.TempDir())
	o.NoQueueWorker = true
	l1, err := StartLocal(context.Background(), o)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	deploy(t, l1, fnDef{name: "f-kept-replicas"})
	if r := sys(t, l1, "POST", "/system/scale-function/f-kept-replicas", `{"serviceName":"f-kept-replicas","replicas":3}`); r.code != 202 {
		t.Fatalf("scale = %d %q", r.code, r.body)
	}
	waitReplicas(t, l1, "f-kept-replicas", 3)
	if err := l1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	l2 := startLocal(t, o)
	waitReplicas(t, l2, "f-kept-replicas", 3)
	if seen := syncAddrs(t, l2, "f-kept-replicas", 6); len(seen) != 3 {
		t.Fatalf("calls answered by %v after the restart, want 3 replicas", seen)
	}
}
