package gateway

import (
	"net/http"
	"runtime"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// info serves GET /system/info. To a client (faas-cli version) it answers
// as a gateway: the provider and gateway versions and the architecture. To
// an OpenFaaS gateway that uses this one as its provider, it answers as a
// faas-provider does (provider name, orchestration, version), which that
// gateway wraps into its own answer; such a gateway forwards the call with
// X-Forwarded-Host, which a client calling directly does not send.
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	provider := &api.ProviderInfo{Name: "faasflow-local", Version: &api.VersionInfo{SHA: "", Release: Version}, Orchestration: "process"}
	if r.Header.Get("X-Forwarded-Host") != "" {
		writeJSON(w, http.StatusOK, provider)
		return
	}
	writeJSON(w, http.StatusOK, api.GatewayInfo{
		Provider: provider,
		Version:  &api.VersionInfo{CommitMessage: "faas-flow local gateway", SHA: "", Release: Version},
		Arch:     runtime.GOARCH,
	})
}

// namespaces serves GET /system/namespaces: the one namespace served.
func (s *Server) namespaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []string{api.DefaultNamespace})
}
