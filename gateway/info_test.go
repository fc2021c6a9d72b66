package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestInfoAnswersAClientAsAGatewayAndAGatewayAsAProvider(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   map[string]bool // top-level keys
	}{
		{"faas-cli calling directly", nil, map[string]bool{"provider": true, "version": true, "arch": true}},
		{"an OpenFaaS gateway in front", map[string]string{"X-Forwarded-Host": "gateway:8080"}, map[string]bool{"provider": true, "version": true, "orchestration": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/system/info", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			(&Server{}).info(w, r)
			var got map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			for k := range tt.want {
				if _, ok := got[k]; !ok {
					t.Fatalf("%s: no %q", w.Body, k)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%s: keys %v, want %v", w.Body, len(got), tt.want)
			}
			var provider string
			if tt.header != nil && (json.Unmarshal(got["provider"], &provider) != nil || provider != "faasflow-local") {
				t.Fatalf("provider %s, want the faas-provider shape naming faasflow-local", got["provider"])
			}
		})
	}
}
