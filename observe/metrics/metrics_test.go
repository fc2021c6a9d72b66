package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/observe/metrics"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// gathered is the registry's content keyed by "name{k=v,...}" (labels in
// name order); histograms are keyed twice, with _count and _sum.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := func(suffix string) string {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+"="+l.GetValue())
				}
				sort.Strings(ls)
				return f.GetName() + suffix + "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key("")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key("")] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key("_count")] = float64(m.GetHistogram().GetSampleCount())
				out[key("_sum")] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func newHarness(t *testing.T, m *metrics.Metrics, flow string, define faasflow.DefineFunc) *flowtest.Harness {
	t.Helper()
	h, err := flowtest.New(define, flowtest.WithFlowName(flow),
		flowtest.WithFunction("worker", func(in []byte) ([]byte, error) { return in, nil }),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = m }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	h.Transport.SetTarget(m.TrackHops(flow, h.Engine.Receive))
	return h
}

func TestCountsOfAFlowWithARetryAndAFailure(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var flaky atomic.Int32
	// a (Apply + Modify) → flaky (fails once, retried) → bad (fails).
	h := newHarness(t, m, "chain", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("a").Apply("worker").Modify(func(in []byte) ([]byte, error) { return in, nil })
		d.Node("flaky", faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Millisecond})).
			Modify(func(in []byte) ([]byte, error) {
				if flaky.Add(1) == 1 {
					return nil, errors.New("transient")
				}
				return in, nil
			})
		d.Node("bad").Modify(func([]byte) ([]byte, error) { return nil, errors.New("boom") })
		d.Edge("a", "flaky")
		d.Edge("flaky", "bad")
		return nil
	})
	res, err := h.Run(ctxT(t), []byte("x"))
	if err != nil || res.State != engine.StateFailed {
		t.Fatalf("run: %+v %v", res, err)
	}
	got := gather(t, m.Registry())
	want := map[string]float64{
		"faasflow_requests_started_total{flow=chain}":                                   1,
		"faasflow_requests_total{flow=chain,state=failed}":                              1,
		"faasflow_request_duration_seconds_count{flow=chain,state=failed}":              1,
		"faasflow_node_duration_seconds_count{flow=chain,node=a}":                       1,
		"faasflow_node_duration_seconds_count{flow=chain,node=flaky}":                   2,
		"faasflow_node_duration_seconds_count{flow=chain,node=bad}":                     1,
		"faasflow_node_retries_total{flow=chain,node=flaky}":                            1,
		"faasflow_node_failures_total{flow=chain,node=flaky}":                           1,
		"faasflow_node_failures_total{flow=chain,node=bad}":                             1,
		"faasflow_hops_emitted_total{flow=chain}":                                       2, // a→flaky, flaky→bad
		"faasflow_hops_received_total{flow=chain}":                                      3, // the first hop runs inside Start
		"faasflow_hops_in_flight{flow=chain}":                                           0,
		"faasflow_operation_duration_seconds_count{flow=chain,operation_kind=function}": 1,
		"faasflow_operation_duration_seconds_count{flow=chain,operation_kind=modify}":   4,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if strings.Contains(k, "_sum{") {
			continue
		}
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s = %v", k, got[k])
		}
	}

	// A second, successful request adds to the same series.
	h2 := newHarness(t, m, "chain-ok", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		flow.SyncNode().Modify(func(in []byte) ([]byte, error) { return in, nil })
		return nil
	})
	if res, err := h2.Run(ctxT(t), []byte("x")); err != nil || res.State != engine.StateSucceeded {
		t.Fatalf("run: %+v %v", res, err)
	}
	got = gather(t, m.Registry())
	if got["faasflow_requests_total{flow=chain-ok,state=succeeded}"] != 1 || got["faasflow_requests_started_total{flow=chain-ok}"] != 1 {
		t.Fatalf("sync request not counted: %v", got)
	}
}

func TestNodeLabelIsTheDefinitionIDNotTheInstance(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, m, "fan", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		each := flow.Dag().ForEachBranch("each", func(in []byte) map[string][]byte {
			out := map[string][]byte{}
			for _, k := range strings.Split(string(in), ",") {
				out[k] = []byte(k)
			}
			return out
		}, faasflow.Aggregator(func(map[string][]byte) ([]byte, error) { return []byte("done"), nil }))
		each.Node("up").Modify(func(in []byte) ([]byte, error) { return in, nil })
		return nil
	})
	res, err := h.Run(ctxT(t), []byte("a,b,c,d,e"))
	if err != nil || res.State != engine.StateSucceeded {
		t.Fatalf("run: %+v %v", res, err)
	}
	got := gather(t, m.Registry())
	if got["faasflow_node_duration_seconds_count{flow=fan,node=each/up}"] != 5 {
		t.Fatalf("five foreach branches not counted under one node label: %v", got)
	}
	for k := range got {
		if strings.Contains(k, "[") {
			t.Errorf("series %s carries an instance id", k)
		}
	}
}

func TestHopsInFlightCountsHopsBeingHandled(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// entered has room for the one signal, so node b never misses the
	// test's receive; release is closed on every path so a failing test
	// never leaves the node (and the harness's Close) blocked.
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	h := newHarness(t, m, "slow", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("a").Modify(func(in []byte) ([]byte, error) { return in, nil })
		d.Node("b").Modify(func(in []byte) ([]byte, error) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
			return in, nil
		})
		d.Edge("a", "b")
		return nil
	})
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() {
		res, err := h.Run(ctx, []byte("x"))
		if err == nil && res.State != engine.StateSucceeded {
			err = errors.New("state " + res.State)
		}
		done <- err
	}()
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("node b never ran")
	}
	if g := gather(t, m.Registry())["faasflow_hops_in_flight{flow=slow}"]; g != 1 {
		t.Errorf("in flight while b runs = %v, want 1", g)
	}
	unblock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g := gather(t, m.Registry())["faasflow_hops_in_flight{flow=slow}"]; g != 0 {
		t.Errorf("in flight after the request = %v, want 0", g)
	}
}

func TestHandlerServesTheExpositionFormat(t *testing.T) {
	m, err := metrics.New(metrics.Options{RuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, m, "served", func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		flow.SyncNode().Modify(func(in []byte) ([]byte, error) { return in, nil })
		return nil
	})
	if _, err := h.Run(ctxT(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`faasflow_requests_total{flow="served",state="succeeded"} 1`,
		`# TYPE faasflow_node_duration_seconds histogram`,
		`faasflow_operation_duration_seconds_count{flow="served",operation_kind="modify"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestNewRejectsARegistryThatAlreadyHoldsTheMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(metrics.Options{Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(metrics.Options{Registry: reg}); err == nil {
		t.Fatal("second registration in the same registry succeeded")
	}
}

func TestOperationKindFromTheOperationID(t *testing.T) {
	tests := map[string]string{
		"modifier-0":               metrics.KindModify,
		"modifier-12":              metrics.KindModify,
		"modifier-x":               metrics.KindFunction,
		"http-req:http://x/y?z=1":  metrics.KindRequest,
		"callback:https://cb/done": metrics.KindCallback,
		"resize-image":             metrics.KindFunction,
	}
	for id, want := range tests {
		if got := metrics.OperationKind(id); got != want {
			t.Errorf("OperationKind(%q) = %q, want %q", id, got, want)
		}
	}
}
