package runtime

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/faas-flow/faas-flow/transport/callbackguard"
)

func TestCompletionCallbacksToTheFlowsOwnStoresAreRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(other.Close)
	natsURL := "nats://" + strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name    string
		cfg     Config
		url     string
		refused bool
	}{
		{"the etcd endpoint", Config{StateStore: StoreEtcd, Etcd: EtcdConfig{Endpoints: []string{srv.URL}}}, srv.URL + "/v3/kv/put", true},
		{"the NATS server of nats hops", Config{StateStore: StoreMemory, HopTransport: HopsViaNATS, NATSURL: natsURL}, srv.URL + "/", true},
		{"an allow-listed destination", Config{StateStore: StoreEtcd, Etcd: EtcdConfig{Endpoints: []string{srv.URL}},
			CallbackAllow: []string{"127.0.0.0/8"}}, srv.URL + "/", false},
		{"the same server is no store of a memory flow", Config{StateStore: StoreMemory, Etcd: EtcdConfig{Endpoints: []string{srv.URL}}}, srv.URL + "/", false},
		{"an ordinary destination", Config{StateStore: StoreEtcd, Etcd: EtcdConfig{Endpoints: []string{srv.URL, "etcd.example:2379"}}}, other.URL + "/cb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := guardedCallbackClient(tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := hits.Load()
			resp, err := c.Post(tt.url, "text/plain", strings.NewReader("result"))
			if err == nil {
				resp.Body.Close()
			}
			if got := errors.Is(err, callbackguard.ErrRefused); got != tt.refused {
				t.Fatalf("POST %s = %v, want refused %v", tt.url, err, tt.refused)
			}
			if tt.refused && hits.Load() != before {
				t.Fatal("a refused callback reached the server")
			}
		})
	}
}
