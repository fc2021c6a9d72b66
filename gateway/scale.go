package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// scaleFunction serves POST /system/scale-function/{name}: it records the
// replicas, stops the function at zero and starts it when it was stopped.
func (s *Server) scaleFunction(w http.ResponseWriter, r *http.Request) {
	name, _ := api.SplitName(r.PathValue("name"))
	var req api.ScaleServiceRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, "invalid scale request: "+err.Error())
		return
	}
	ns := req.Namespace
	if q := r.URL.Query().Get("namespace"); q != "" {
		ns = q
	}
	f, ok := s.opts.Store.Get(name)
	if !ok || !namespaceOK(ns) {
		httpError(w, http.StatusNotFound, "function "+name+" not found")
		return
	}
	if err := s.opts.Store.SetReplicas(name, req.Replicas); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	f.Replicas = req.Replicas
	_, running := s.opts.Supervisor.Get(name)
	switch {
	case req.Replicas == 0 && running:
		_ = s.opts.Supervisor.Stop(name)
	case req.Replicas > 0 && !running:
		if err := s.opts.Supervisor.Start(r.Context(), s.spec(f)); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusAccepted)
}
