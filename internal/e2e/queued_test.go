package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/runtime"
)

// TestAQueuedFlowCallIsAnsweredWithoutWaiting: on a stack that delivers as
// OpenFaaS CE does (one call at a time, at most once), an async call of a
// flow with ?wait would hold the only worker while the flow's own hops
// queue behind it. The flow answers it at once instead (its 202, marked
// X-Faas-Flow-Wait-Ignored, reaches the caller's X-Callback-Url well before
// the flow's 3-second node could have run), and the request then ends.
func TestAQueuedFlowCallIsAnsweredWithoutWaiting(t *testing.T) {
	s := startStackWith(t, func(o *gateway.LocalOptions) { o.QueueDelivery = gateway.DeliverAtMostOnce },
		filepath.Join("testdata", "resilience.yml"))
	type answer struct {
		header http.Header
		body   []byte
		at     time.Time
	}
	got := make(chan answer, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- answer{r.Header.Clone(), b, time.Now()}
	}))
	defer cb.Close()
	sent := time.Now()
	r := s.do(t, http.MethodPost, "/async-function/slow?wait=30s", []byte("q:"), map[string]string{"X-Callback-Url": cb.URL})
	if r.status != http.StatusAccepted {
		t.Fatalf("async call: %d %s", r.status, r.body)
	}
	var a answer
	select {
	case a = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no callback from the queue")
	}
	took := a.at.Sub(sent)
	if a.header.Get("X-Function-Status") != "202" || a.header.Get(runtime.HeaderWaitIgnored) == "" || took > 2*time.Second {
		t.Fatalf("queued call answered %s after %s with %v %s; want 202 with %s at once",
			a.header.Get("X-Function-Status"), took, a.header, a.body, runtime.HeaderWaitIgnored)
	}
	var acc struct {
		RequestID string `json:"request_id"`
		StateURL  string `json:"state_url"`
	}
	if err := json.Unmarshal(a.body, &acc); err != nil || !strings.HasPrefix(acc.StateURL, "http://") {
		t.Fatalf("202 body %s: %v", a.body, err)
	}
	t.Logf("the queued call was answered %s after it was sent; state_url %s", took.Round(time.Millisecond), acc.StateURL)
	s.waitState(t, "slow", acc.RequestID, "succeeded", time.Minute)
}
