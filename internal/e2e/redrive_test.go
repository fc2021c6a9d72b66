package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/runtime"
)

// signedEnds receives completion callbacks and checks each one's
// X-Faas-Flow-Signature.
type signedEnds struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []signedEnd
}

type signedEnd struct {
	id, state string
	body      []byte
	err       error // the signature's verification
}

func newSignedEnds(t *testing.T, s *stack) *signedEnds {
	secret, err := os.ReadFile(filepath.Join(s.SecretsDir(), gateway.HMACSecretName))
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.TrimSpace(secret)
	e := &signedEnds{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := signedEnd{id: r.Header.Get(runtime.HeaderRequestID), state: r.Header.Get(runtime.HeaderState), body: b}
		c.err = runtime.VerifyCallback(key, r.Header.Get(runtime.HeaderSignature), c.id, c.state, b, time.Now(), runtime.CallbackWindow)
		e.mu.Lock()
		e.calls = append(e.calls, c)
		e.mu.Unlock()
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// of returns the callbacks received for request id.
func (e *signedEnds) of(id string) []signedEnd {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []signedEnd
	for _, c := range e.calls {
		if c.id == id {
			out = append(out, c)
		}
	}
	return out
}

// pickyState is what the tests read of a request of the picky flow.
type pickyState struct {
	State    string `json:"state"`
	Error    string `json:"error"`
	Redrives int    `json:"redrives"`
	Nodes    map[string]struct {
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
		Faults   []struct {
			Key, Error string
			Attempts   int
			Input      string
		} `json:"faults"`
		Earlier []struct {
			Status string            `json:"status"`
			Faults []json.RawMessage `json:"faults"`
		} `json:"earlier"`
	} `json:"nodes"`
}

func decodePicky(t *testing.T, st map[string]any) pickyState {
	t.Helper()
	b, _ := json.Marshal(st)
	var p pickyState
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRedriveOnTheLocalStackAfterTheFlowProcessRestarted runs the picky
// flow (a foreach tolerating one failed item, its outputs in MinIO) on the
// local stack: with two items broken, the request fails naming the count,
// and keeps its outputs; after the items are fixed and the flow's process
// killed and restarted, a redrive runs only the two failed items and the
// request succeeds, its callbacks signed; with one item broken, a request
// succeeds with one fault record.
func TestRedriveOnTheLocalStackAfterTheFlowProcessRestarted(t *testing.T) {
	broken := t.TempDir()
	t.Setenv("FAASFLOW_E2E_BREAK_DIR", broken)
	breakItem := func(item string) {
		if err := os.WriteFile(filepath.Join(broken, item), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := startStack(t, filepath.Join("testdata", "redrive.yml"))
	e := newSignedEnds(t, s)
	start := func(input string) string {
		r := s.do(t, http.MethodPost, "/function/picky", []byte(input), map[string]string{runtime.HeaderCallbackURL: e.srv.URL})
		if r.status != http.StatusAccepted {
			t.Fatalf("start: %d %s", r.status, r.body)
		}
		return r.header.Get(runtime.HeaderRequestID)
	}

	breakItem("d")
	tolerated := start("a,b,c,d,e")
	st := decodePicky(t, s.waitState(t, "picky", tolerated, "succeeded", time.Minute))
	if f := st.Nodes["each"].Faults; len(f) != 1 || f[0].Key != "d" || !strings.Contains(f[0].Error, "item d is broken") {
		t.Fatalf("one broken item under a bound of one: fault records %+v, want d's", f)
	}
	if r := s.do(t, http.MethodGet, "/function/picky/flow/"+tolerated+"/result", nil, nil); string(r.body) != "<a:71680,b:71680,c:71680,e:71680 faults=d>" {
		t.Fatalf("result with one tolerated fault: %d %q", r.status, r.body)
	}

	breakItem("b")
	id := start("a,b,c,d,e")
	st = decodePicky(t, s.waitState(t, "picky", id, "failed", time.Minute))
	if !strings.Contains(st.Error, "2 of 5 branches failed") || len(st.Nodes["each"].Faults) != 2 {
		t.Fatalf("two broken items under a bound of one: error %q, faults %+v", st.Error, st.Nodes["each"].Faults)
	}
	kept := s.workObjects(t)
	if len(kept) == 0 {
		t.Fatal("the failed request kept none of its outputs for a redrive")
	}

	for _, item := range []string{"b", "d"} {
		if err := os.Remove(filepath.Join(broken, item)); err != nil {
			t.Fatal(err)
		}
	}
	pid := s.pid(t, "picky")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitRestarted(t, s, "picky", pid)

	r := s.do(t, http.MethodPost, "/function/picky/flow/"+id+"/redrive", nil, nil)
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"redrives": 1`)) {
		t.Fatalf("redrive: %d %s", r.status, r.body)
	}
	st = decodePicky(t, s.waitState(t, "picky", id, "succeeded", time.Minute))
	if r := s.do(t, http.MethodGet, "/function/picky/flow/"+id+"/result", nil, nil); string(r.body) != "<a:71680,b:71680,c:71680,d:71680,e:71680 faults=>" {
		t.Fatalf("result after the redrive: %d %q", r.status, r.body)
	}
	if st.Redrives != 1 || len(st.Nodes["each"].Earlier) != 1 || len(st.Nodes["each"].Earlier[0].Faults) != 2 {
		t.Fatalf("redrives %d, earlier runs of each %+v; want 1 and one with two faults", st.Redrives, st.Nodes["each"].Earlier)
	}
	rerun := 0
	for _, item := range []string{"a", "b", "c", "d", "e"} {
		n := st.Nodes["each["+item+"]/work"]
		if n.Status != "succeeded" {
			t.Fatalf("item %s: %+v", item, n)
		}
		if len(n.Earlier) > 0 {
			rerun++
			if item != "b" && item != "d" || n.Earlier[0].Status != "failed" {
				t.Errorf("item %s ran again: %+v", item, n)
			}
		}
	}
	t.Logf("the redrive ran %d of 5 items again (b and d, those that failed)", rerun)
	if rerun != 2 {
		t.Fatalf("the redrive ran %d items again, want 2", rerun)
	}
	if r := s.do(t, http.MethodPost, "/function/picky/flow/"+id+"/redrive", nil, nil); r.status != http.StatusConflict {
		t.Fatalf("redrive of a succeeded request: %d %s", r.status, r.body)
	}

	time.Sleep(500 * time.Millisecond) // a late callback would come now
	calls := e.of(id)
	if len(calls) != 2 || calls[0].state != "failed" || calls[1].state != "succeeded" {
		t.Fatalf("callbacks %+v, want one for the failure and one for the success", calls)
	}
	for _, c := range append(calls, e.of(tolerated)...) {
		if c.err != nil {
			t.Errorf("callback of %s (%s): %v", c.id, c.state, c.err)
		}
	}
	if left := s.workObjects(t); len(left) != 0 {
		t.Fatalf("objects left once the request succeeded: %v", left)
	}
}

// waitRestarted waits until the supervisor has started fn again after its
// process pid died, and the new process answers.
func waitRestarted(t *testing.T, s *stack, fn string, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s.pid(t, fn) == pid {
			continue
		}
		if r := s.do(t, http.MethodGet, "/function/"+fn+"/flow/none/state", nil, nil); r.status == http.StatusNotFound {
			return
		}
	}
	t.Fatalf("%s was not restarted after its process %d died", fn, pid)
}
