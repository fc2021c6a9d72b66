package runtime_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
)

func TestAcceptedURLsPointAtTheGatewayTheCallerUsed(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	f.gw.SetHold(true)
	tests := []struct {
		name    string
		headers []string
		want    string // base of state_url
	}{
		{"no forwarding headers: the gateway setting", nil, f.gw.URL()},
		{"the host an OpenFaaS gateway forwards", []string{"X-Forwarded-Host", "gw.example.com:8443"}, "http://gw.example.com:8443"},
		{"behind a TLS proxy", []string{"X-Forwarded-Host", "gw.example.com", "X-Forwarded-Proto", "https"}, "https://gw.example.com"},
		{"the first of several", []string{"X-Forwarded-Host", "a.example.com, b.internal"}, "http://a.example.com"},
		{"not a host: the gateway setting", []string{"X-Forwarded-Host", "evil.example.com/phish?x="}, f.gw.URL()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x"), tt.headers...)
			body := r.JSON(t)
			id := body["request_id"].(string)
			want := tt.want + "/function/testflow/flow/" + id + "/state"
			if r.Status != http.StatusAccepted || body["state_url"] != want || body["result_url"] != strings.TrimSuffix(want, "state")+"result" {
				t.Fatalf("%d %v; want state_url %s", r.Status, body, want)
			}
		})
	}
}

func TestWaitIsNotHonouredForACallAQueueDelivered(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	f.gw.SetHold(true) // the request never ends: a wait would last all of it
	tests := []struct {
		name    string
		headers []string
		ignored bool
	}{
		{"OpenFaaS's queue worker", []string{"User-Agent", "openfaas-ce/nats-queue-worker"}, true},
		{"the local gateway's queue worker", []string{"User-Agent", "faasflow/queue-worker"}, true},
		{"a call queued through an OpenFaaS gateway", []string{"X-Start-Time", "1", "X-Start-Time", "2"}, true},
		{"a direct call", []string{"X-Start-Time", "1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=2s", []byte("x"), tt.headers...)
			took := time.Since(start)
			if r.Status != http.StatusAccepted {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			ignored := r.Header.Get(runtime.HeaderWaitIgnored) != ""
			if ignored != tt.ignored || tt.ignored && took > time.Second || !tt.ignored && took < 2*time.Second {
				t.Fatalf("wait ignored %v after %s; want ignored %v", ignored, took, tt.ignored)
			}
		})
	}
}
