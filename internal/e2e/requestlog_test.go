package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// field reads the value of key in a log/slog text line ("" when absent).
func field(line, key string) string {
	m := regexp.MustCompile(`(?:^| )` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S*)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"`)
}

// requestLog waits until the flow's log, read through the gateway's logs
// API, has the line that ends request id, and returns the lines of that
// request in order, each summed up as "msg node attempt outcome state".
func (s *stack) requestLog(t *testing.T, flow, id string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, err := s.Client().Logs(context.Background(), flow, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		ended := false
		for _, m := range msgs {
			if field(m.Text, "request_id") != id {
				continue
			}
			sum := field(m.Text, "msg")
			for _, k := range []string{"node", "attempt", "outcome", "state"} {
				if v := field(m.Text, k); v != "" {
					sum += " " + v
				}
			}
			if field(m.Text, "msg") == "node ended" && field(m.Text, "duration") == "" {
				t.Errorf("node line without a duration: %s", m.Text)
			}
			got = append(got, sum)
			ended = ended || field(m.Text, "msg") == "request ended"
		}
		if ended {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line ended request %s in the log of %s; its lines: %q", id, flow, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTheLogsOfAFlowOnTheLocalStackShowEveryNodeRunOfARequest(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "flaky.yml"))
	ids := make([]string, 2)
	for i := range ids {
		r := s.do(t, http.MethodPost, "/function/flaky", []byte("x"), nil)
		ids[i] = r.header.Get("X-Faas-Flow-Reqid")
		if r.status != http.StatusAccepted || ids[i] == "" {
			t.Fatalf("start: %d %s", r.status, r.body)
		}
	}
	want := []string{
		"request started",
		"node ended a 1 succeeded",
		"node ended b 1 retried",
		"node ended b 2 succeeded",
		"node ended c 1 succeeded",
		"request ended succeeded",
	}
	for _, id := range ids {
		s.waitState(t, "flaky", id, "succeeded", 30*time.Second)
		if got := s.requestLog(t, "flaky", id); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("log of request %s:\n%s\nwant\n%s", id, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	msgs, err := s.Client().Logs(context.Background(), "flaky", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text, "too_many_pings") {
			t.Fatalf("the flow logged an etcd keepalive error: %s", m.Text)
		}
	}
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func TestPausingARequestOnTheLocalStackWantsTheGatewaysLogin(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "flaky.yml"))
	r := s.do(t, http.MethodPost, "/function/flaky", []byte("x"), nil)
	id := r.header.Get("X-Faas-Flow-Reqid")
	if r.status != http.StatusAccepted || id == "" {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	pause := "/function/flaky/flow/" + id + "/pause"
	for _, h := range []map[string]string{
		{"Authorization": ""},
		{"Authorization": "Basic " + basic("admin", "not-the-password")},
	} {
		r := s.do(t, http.MethodPost, pause, nil, h)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Basic realm="faas-flow"` {
			t.Fatalf("pause with %v: %d %v %s, want 401 with a Basic challenge", h, r.status, r.header, r.body)
		}
	}
	if st := s.waitState(t, "flaky", id, "running", 5*time.Second); st["state"] != "running" {
		t.Fatalf("state after refused pauses: %v", st)
	}
	if r := s.do(t, http.MethodPost, pause, nil, nil); r.status != http.StatusOK {
		t.Fatalf("pause with the gateway's login: %d %s", r.status, r.body)
	}
	s.waitState(t, "flaky", id, "paused", 5*time.Second)
	if r := s.do(t, http.MethodPost, "/function/flaky/flow/"+id+"/resume", nil, nil); r.status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	s.waitState(t, "flaky", id, "succeeded", 30*time.Second)
}
