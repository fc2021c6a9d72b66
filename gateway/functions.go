package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
)

// status is the API view of a registry entry: its replicas, and as
// available those of its running processes that pass their health check.
func (s *Server) status(f store.Function) api.FunctionStatus {
	d := f.Deployment
	st := api.FunctionStatus{
		Name: d.Service, Image: d.Image, Namespace: api.DefaultNamespace, EnvProcess: d.EnvProcess,
		EnvVars: d.EnvVars, Constraints: d.Constraints, Secrets: d.Secrets, Labels: d.Labels,
		Annotations: d.Annotations, Limits: d.Limits, Requests: d.Requests,
		ReadOnlyRootFilesystem: d.ReadOnlyRootFilesystem, Replicas: f.Replicas, CreatedAt: f.CreatedAt,
		InvocationCount: s.metrics.invocationCount(d.Service),
	}
	if inst, ok := s.opts.Supervisor.Get(d.Service); ok && f.Replicas > 0 {
		st.AvailableReplicas = uint64(inst.AvailableReplicas())
	}
	return st
}

// listFunctions serves GET /system/functions (an empty list for any other
// namespace).
func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request) {
	if !namespaceOK(r.URL.Query().Get("namespace")) {
		writeJSON(w, http.StatusOK, []api.FunctionStatus{})
		return
	}
	out := []api.FunctionStatus{}
	for _, f := range s.opts.Store.List() {
		out = append(out, s.status(f))
	}
	writeJSON(w, http.StatusOK, out)
}

// getFunction serves GET /system/function/{name}.
func (s *Server) getFunction(w http.ResponseWriter, r *http.Request) {
	name, ns := api.SplitName(r.PathValue("name"))
	if q := r.URL.Query().Get("namespace"); q != "" {
		ns = q
	}
	f, ok := s.opts.Store.Get(name)
	if !ok || !namespaceOK(ns) {
		httpError(w, http.StatusNotFound, "function "+name+" not found")
		return
	}
	writeJSON(w, http.StatusOK, s.status(f))
}

// deploy handles POST (create or update) and PUT (update; 404 when missing,
// which makes faas-cli fall back to POST). Success is 202.
func (s *Server) deploy(update bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var d api.FunctionDeployment
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&d); err != nil {
			httpError(w, http.StatusBadRequest, "invalid deployment JSON: "+err.Error())
			return
		}
		if !api.ValidName(d.Service) {
			httpError(w, http.StatusBadRequest, "service name "+strconv.Quote(d.Service)+" must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
			return
		}
		if d.Image == "" {
			httpError(w, http.StatusBadRequest, "image is required")
			return
		}
		if !namespaceOK(d.Namespace) {
			httpError(w, http.StatusBadRequest, "namespace must be: "+api.DefaultNamespace)
			return
		}
		if !s.startDeployment(w, r, d, update) {
			return
		}
		s.awaitStart(w, r, d.Service)
	}
}

// startDeployment records deployment d and starts (or restarts) its
// function; it reports whether it did, having answered the error if not.
func (s *Server) startDeployment(w http.ResponseWriter, r *http.Request, d api.FunctionDeployment, update bool) bool {
	s.replicasMu.Lock()
	defer s.replicasMu.Unlock()
	old, exists := s.opts.Store.Get(d.Service)
	if update && !exists {
		httpError(w, http.StatusNotFound, "function "+d.Service+" not found")
		return false
	}
	replicas, err := deployReplicas(d, old, exists)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return false
	}
	f := store.Function{Deployment: d, CreatedAt: time.Now().UTC(), Replicas: replicas}
	if exists {
		f.CreatedAt = old.CreatedAt
	}
	if img, ok := s.opts.Store.Image(d.Image); ok {
		f.Binary, f.Lang = img.Binary, img.Lang
	} else if d.EnvProcess == "" || strings.HasPrefix(d.EnvProcess, "./") {
		httpError(w, http.StatusBadRequest, "image "+d.Image+" was not built by this gateway: build it first "+
			"(faasflow deploy -f stack.yml, or faas-cli up --remote-builder <gateway>/ --payload-secret <file>), "+
			"or give an fprocess command to run per request")
		return false
	}
	spec := s.runSpec(f)
	if err := s.opts.Supervisor.CheckSecrets(spec.Secrets); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return false
	}
	if err := s.opts.Store.Put(f); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return false
	}
	if err := s.opts.Supervisor.Start(r.Context(), spec); err != nil {
		httpError(w, http.StatusInternalServerError, "start "+d.Service+": "+err.Error())
		return false
	}
	s.opts.Logger.Info("deployed", "function", d.Service, "image", d.Image, "update", exists, "replicas", replicas)
	s.pruneBinaries()
	return true
}

// awaitStart answers a deployment of function name once a replica passes
// its health check (202), or with 422 and the function's own last output
// when it exits at start or does not become healthy in time: a deploy
// that succeeds is a function that serves. The function stays deployed, so
// that its logs can be read and a fixed deployment can replace it.
func (s *Server) awaitStart(w http.ResponseWriter, r *http.Request, name string) {
	inst, ok := s.opts.Supervisor.Get(name)
	if ok {
		if _, err := inst.WaitReady(r.Context()); err != nil && !errors.Is(err, supervisor.ErrStopped) {
			s.opts.Logger.Warn("deployed function does not start", "function", name, "err", err)
			httpError(w, http.StatusUnprocessableEntity, "deployed, but "+err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// deleteFunction serves DELETE /system/functions: it removes the registry
// entry, stops the function and prunes the binaries nothing refers to.
func (s *Server) deleteFunction(w http.ResponseWriter, r *http.Request) {
	var req api.DeleteFunctionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.FunctionName == "" {
		httpError(w, http.StatusBadRequest, "body must be {\"functionName\": NAME}")
		return
	}
	if !namespaceOK(req.Namespace) {
		httpError(w, http.StatusNotFound, "function "+req.FunctionName+" not found")
		return
	}
	if err := s.opts.Store.Delete(req.FunctionName); err != nil {
		if errors.Is(err, api.ErrFunctionNotFound) {
			httpError(w, http.StatusNotFound, "function "+req.FunctionName+" not found")
			return
		}
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	_ = s.opts.Supervisor.Stop(req.FunctionName)
	s.pruneBinaries()
	w.WriteHeader(http.StatusAccepted)
}

// Restore starts every registered function with replicas > 0, with its
// replicas (after a restart).
func (s *Server) Restore(ctx context.Context) error {
	var errs []error
	for _, f := range s.opts.Store.List() {
		if f.Replicas == 0 {
			continue
		}
		if err := s.opts.Supervisor.Start(ctx, s.runSpec(f)); err != nil {
			errs = append(errs, err)
			s.opts.Logger.Error("restore function", "function", f.Deployment.Service, "err", err)
		}
	}
	return errors.Join(errs...)
}
