package gateway

import (
	"net/http"
	"runtime"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// info serves GET /system/info: the provider and gateway versions and the
// architecture.
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	v := &api.VersionInfo{SHA: "", Release: Version}
	writeJSON(w, http.StatusOK, api.GatewayInfo{
		Provider: &api.ProviderInfo{Name: "faasflow-local", Version: v, Orchestration: "process"},
		Version:  &api.VersionInfo{CommitMessage: "faas-flow local gateway", SHA: "", Release: Version},
		Arch:     runtime.GOARCH,
	})
}

// namespaces serves GET /system/namespaces: the one namespace served.
func (s *Server) namespaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []string{api.DefaultNamespace})
}
