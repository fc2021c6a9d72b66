package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
)

// LabelScaleMin is the deployment label whose value is a function's
// initial number of replicas, as faas-netes reads it.
const LabelScaleMin = "com.openfaas.scale.min"

// MaxReplicas bounds the replicas of one function: each is a process on
// this machine.
const MaxReplicas = 20

// scaleFunction serves POST /system/scale-function/{name}: it records the
// replicas and makes the supervisor run that many (0 stops the function).
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
	if req.Replicas > MaxReplicas {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("replicas %d: the local gateway runs at most %d per function", req.Replicas, MaxReplicas))
		return
	}
	s.replicasMu.Lock()
	defer s.replicasMu.Unlock()
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
	if err := s.applyReplicas(r.Context(), f); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.opts.Logger.Info("scaled", "function", name, "replicas", req.Replicas)
	w.WriteHeader(http.StatusAccepted)
}

// applyReplicas makes the supervisor run f.Replicas replicas of f: none
// stops it; otherwise a running function is scaled and a stopped one
// started. The caller holds s.replicasMu.
func (s *Server) applyReplicas(ctx context.Context, f store.Function) error {
	name := f.Deployment.Service
	_, running := s.opts.Supervisor.Get(name)
	switch {
	case f.Replicas == 0:
		if running {
			_ = s.opts.Supervisor.Stop(name)
		}
		return nil
	case running:
		return s.opts.Supervisor.Scale(ctx, name, int(f.Replicas))
	default:
		return s.opts.Supervisor.Start(ctx, s.runSpec(f))
	}
}

// runSpec is what the supervisor runs for f, with f's replicas.
func (s *Server) runSpec(f store.Function) supervisor.Spec {
	spec := s.spec(f)
	spec.Replicas = int(f.Replicas)
	return spec
}

// scaleMin is the replica count a deployment's com.openfaas.scale.min label
// asks for, and whether it asks for one: as in faas-netes, a value that is
// not a whole number above zero is ignored. A value over MaxReplicas is an
// error.
func scaleMin(d api.FunctionDeployment) (uint64, bool, error) {
	if d.Labels == nil {
		return 0, false, nil
	}
	v, ok := (*d.Labels)[LabelScaleMin]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, false, nil
	}
	if n > MaxReplicas {
		return 0, false, fmt.Errorf("label %s=%d: the local gateway runs at most %d replicas per function", LabelScaleMin, n, MaxReplicas)
	}
	return n, true, nil
}

// deployReplicas is the replica count of deployment d: its
// com.openfaas.scale.min label when it sets a valid one, else what the
// function it updates had (old, when it was running), else 1. This is
// what faas-netes does on create and update.
func deployReplicas(d api.FunctionDeployment, old store.Function, exists bool) (uint64, error) {
	n, ok, err := scaleMin(d)
	switch {
	case err != nil:
		return 0, err
	case ok:
		return n, nil
	case exists && old.Replicas > 0:
		return old.Replicas, nil
	}
	return 1, nil
}

// scaleFromZero starts f, scaled to zero, with its com.openfaas.scale.min
// replicas (default 1), as the OpenFaaS gateway does on a call to such a
// function, unless another call started it meanwhile.
func (s *Server) scaleFromZero(ctx context.Context, f store.Function) error {
	s.replicasMu.Lock()
	defer s.replicasMu.Unlock()
	name := f.Deployment.Service
	if _, ok := s.opts.Supervisor.Get(name); ok {
		return nil
	}
	n, ok, _ := scaleMin(f.Deployment)
	if !ok {
		n = 1
	}
	if err := s.opts.Store.SetReplicas(name, n); err != nil {
		return err
	}
	f.Replicas = n
	return s.opts.Supervisor.Start(ctx, s.runSpec(f))
}
