package runtime_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
)

func TestObservabilityServesFlowMetrics(t *testing.T) {
	env := map[string]string{}
	f := startFlow(t, parallelFlow, nil, runtime.WithExtension(runtime.Observability(envOf(env))))
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=10s", []byte("x")); r.Status != http.StatusOK {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	r := fakegateway.Do(t, http.MethodGet, f.base+"/metrics", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("metrics: %d", r.Status)
	}
	for _, want := range []string{
		`faasflow_requests_total{flow="testflow",state="succeeded"} 1`,
		`faasflow_node_duration_seconds_count{flow="testflow"`,
		"go_goroutines",
	} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestPprofIsServedOnlyWhenEnabled(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{"debug_pprof": "true"}, http.StatusOK},
		{nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		f := startFlow(t, parallelFlow, tt.env)
		if r := fakegateway.Do(t, http.MethodGet, f.base+"/debug/pprof/goroutine?debug=1", nil); r.Status != tt.want {
			t.Errorf("debug_pprof=%q: status %d, want %d", tt.env["debug_pprof"], r.Status, tt.want)
		}
	}
}
