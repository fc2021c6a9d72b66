package gateway

import (
	"slices"
	"testing"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/store"
)

func TestSpecGivesWayToWhatTheDeploymentSets(t *testing.T) {
	s := &Server{opts: Options{
		Env:         map[string]string{"gateway": "http://127.0.0.1:8080"},
		FlowEnv:     map[string]string{"state_store": "etcd", "hop_transport": "nats"},
		FlowSecrets: []string{HMACSecretName},
	}}
	tests := []struct {
		name    string
		lang    string
		envVars map[string]string
		want    map[string]string
		secrets []string
	}{
		{"a flow gets the stack's gateway, stores and signing secret", FlowLang, nil,
			map[string]string{"gateway": "http://127.0.0.1:8080", "state_store": "etcd", "hop_transport": "nats"}, []string{HMACSecretName}},
		{"a flow's own gateway and transport win", FlowLang, map[string]string{"gateway": "http://gateway.openfaas:8080", "hop_transport": "gateway"},
			map[string]string{"gateway": "http://gateway.openfaas:8080", "state_store": "etcd", "hop_transport": "gateway"}, []string{HMACSecretName}},
		{"a declarative flow gets them too", FlowYAMLLang, nil,
			map[string]string{"gateway": "http://127.0.0.1:8080", "state_store": "etcd", "hop_transport": "nats"}, []string{HMACSecretName}},
		{"another function gets the gateway only", "golang-middleware", nil,
			map[string]string{"gateway": "http://127.0.0.1:8080", "state_store": "", "hop_transport": ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := s.spec(store.Function{Lang: tt.lang, Deployment: api.FunctionDeployment{Service: "f", EnvVars: tt.envVars}})
			for k, v := range tt.want {
				if sp.Env[k] != v {
					t.Errorf("env %s = %q, want %q", k, sp.Env[k], v)
				}
			}
			if !slices.Equal(sp.Secrets, tt.secrets) {
				t.Errorf("secrets %v, want %v", sp.Secrets, tt.secrets)
			}
		})
	}
}

func TestSpecGivesFunctionsTheStacksGOGCUnlessTheySetTheirOwnGCOrMemoryLimit(t *testing.T) {
	s := &Server{opts: Options{FunctionGOGC: 400}}
	tests := []struct {
		name    string
		envVars map[string]string
		want    string
	}{
		{"a function without GC settings gets the stack's", nil, "400"},
		{"its own GOGC wins", map[string]string{"GOGC": "100"}, "100"},
		{"its own GOMEMLIMIT leaves GOGC to Go", map[string]string{"GOMEMLIMIT": "200MiB"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := s.spec(store.Function{Lang: "golang-middleware", Deployment: api.FunctionDeployment{Service: "f", EnvVars: tt.envVars}})
			if got := sp.Env["GOGC"]; got != tt.want {
				t.Fatalf("GOGC = %q, want %q", got, tt.want)
			}
		})
	}
}
