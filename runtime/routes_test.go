package runtime_test

import (
	"net/http"
	"testing"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
)

// TestEveryAnswerSaysItComesFromAFlow proves that the flow function marks
// each of its answers, successes and errors alike, with HeaderRuntime: it
// is how a client tells a flow from any other function.
func TestEveryAnswerSaysItComesFromAFlow(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"dag", http.MethodGet, "/?dag=mermaid", 200},
		{"export-dag", http.MethodGet, "/?export-dag=true", 200},
		{"dag in an unknown format", http.MethodGet, "/?dag=svg", 400},
		{"state of an unknown request", http.MethodGet, "/flow/nobody/state", 404},
		{"state as a query", http.MethodGet, "/?state=nobody", 404},
		{"result of an unknown request", http.MethodGet, "/flow/nobody/result", 404},
		{"pause of an unknown request", http.MethodPost, "/flow/nobody/pause", 404},
		{"redrive of an unknown request", http.MethodPost, "/flow/nobody/redrive", 404},
		{"control with the wrong method", http.MethodGet, "/flow/nobody/stop", 405},
		{"unknown route", http.MethodGet, "/nowhere", 404},
		{"health", http.MethodGet, "/_/health", 200},
		{"start", http.MethodPost, "/", 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fakegateway.Do(t, tt.method, f.base+tt.path, []byte("in"))
			if r.Status != tt.status {
				t.Fatalf("%s %s: %d, want %d (%s)", tt.method, tt.path, r.Status, tt.status, r.Body)
			}
			if got := r.Header.Get(runtime.HeaderRuntime); got != runtime.SDKVersion {
				t.Fatalf("%s %s: %s = %q, want %q", tt.method, tt.path, runtime.HeaderRuntime, got, runtime.SDKVersion)
			}
		})
	}
}
