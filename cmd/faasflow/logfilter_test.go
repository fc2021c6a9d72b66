package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
)

func TestOfRequestMatchesOnlyTheLinesOfThatRequest(t *testing.T) {
	tests := []struct {
		name, text string
		want       bool
	}{
		{"text form", `time=2026-12-06T07:00:00Z level=INFO msg="node ended" flow=f request_id=abc node=a attempt=1`, true},
		{"text form, last field", `level=INFO msg="request started" flow=f request_id=abc`, true},
		{"text form, quoted", `level=INFO msg="request started" request_id="abc"`, true},
		{"JSON form", `{"time":"2026-12-06T07:00:00Z","level":"INFO","msg":"node ended","request_id":"abc","node":"a"}`, true},
		{"another line about the request", `level=WARN msg=rejected method=POST request=abc status=401`, true},
		{"a longer id", `level=INFO msg="node ended" request_id=abcd node=a`, false},
		{"a shorter id", `level=INFO msg="node ended" request_id=ab node=a`, false},
		{"the id in another field", `level=INFO msg="node ended" request_id=xyz node=abc`, false},
		{"a key ending like request_id", `level=INFO msg=x parent_request_id=abc`, false},
		{"a start-up line", `level=INFO msg="flow function listening" addr=:8082`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ofRequest(tt.text, "abc"); got != tt.want {
				t.Fatalf("ofRequest(%q, abc) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

func TestLogsWithRequestPrintsOnlyThatRequestsLines(t *testing.T) {
	lines := []string{
		`level=INFO msg="flow function listening" addr=:8082`,
		`level=INFO msg="request started" flow=f request_id=abc`,
		`level=INFO msg="request started" flow=f request_id=abcd`,
		`level=WARN msg="node ended" flow=f request_id=abc node=b attempt=1 outcome=retried`,
		`level=INFO msg="node ended" flow=f request_id=abcd node=a attempt=1 outcome=succeeded`,
		`level=INFO msg="request ended" flow=f request_id=abc state=succeeded`,
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/system/logs" || r.URL.Query().Get("name") != "f" {
			http.NotFound(w, r)
			return
		}
		enc := json.NewEncoder(w)
		for _, l := range lines {
			_ = enc.Encode(api.LogMessage{Name: "f", Instance: "1", Timestamp: time.Now(), Text: l})
		}
	}))
	t.Cleanup(gw.Close)
	r := cli(t, "", "logs", "f", "--request", "abc", "--timestamps=false", "--gateway", gw.URL, "--state-dir", t.TempDir())
	want := lines[1] + "\n" + lines[3] + "\n" + lines[5] + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("logs --request abc = %d\n%s\nwant\n%s\nstderr %s", r.code, r.stdout, want, r.stderr)
	}
}
