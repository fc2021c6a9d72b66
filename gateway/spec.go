package gateway

import (
	"maps"
	"math"
	"strconv"
	"strings"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
)

// spec turns a registry entry into what the supervisor runs.
func (s *Server) spec(f store.Function) supervisor.Spec {
	d := f.Deployment
	env := map[string]string{}
	secrets := append([]string(nil), d.Secrets...)
	if isFlowLang(f.Lang) {
		maps.Copy(env, s.opts.FlowEnv)
		for _, sec := range s.opts.FlowSecrets {
			if !contains(secrets, sec) {
				secrets = append(secrets, sec)
			}
		}
	}
	// The stack's defaults (its gateway URL) give way to what the
	// deployment sets: behind another gateway, a flow sends its hops
	// where its stack file says.
	maps.Copy(env, s.opts.Env)
	maps.Copy(env, d.EnvVars)
	if d.EnvProcess != "" {
		env["fprocess"] = d.EnvProcess
	}
	env["OPENFAAS_NAME"] = d.Service
	env["OPENFAAS_NAMESPACE"] = api.DefaultNamespace
	if _, set := d.EnvVars["GOMAXPROCS"]; !set {
		var limit string
		if d.Limits != nil {
			limit = d.Limits.CPU
		}
		if n := GoMaxProcs(limit, s.opts.FunctionProcs); n > 0 {
			env["GOMAXPROCS"] = strconv.Itoa(n)
		}
	}
	if s.opts.FunctionGOGC > 0 && d.EnvVars["GOGC"] == "" && d.EnvVars["GOMEMLIMIT"] == "" {
		env["GOGC"] = strconv.Itoa(s.opts.FunctionGOGC)
	}
	spec := supervisor.Spec{Name: d.Service, Binary: f.Binary, Env: env, Secrets: secrets}
	if d.Limits != nil {
		if limit, ok := MemoryLimit(d.Limits.Memory); ok {
			spec.MemoryLimit = limit
			if _, set := d.EnvVars["GOMEMLIMIT"]; !set {
				env["GOMEMLIMIT"] = GoMemLimit(limit)
			}
		}
	}
	if f.Binary == "" {
		spec.FProcess = d.EnvProcess
	}
	return spec
}

// GoMaxProcs is the GOMAXPROCS a function process gets from its CPU limit
// (a Kubernetes quantity such as "500m", "1" or "1.5"): the limit rounded
// up, at least 1, which is what Go picks inside a container with that limit.
// Without a valid limit it is def (0: leave Go's default).
func GoMaxProcs(cpuLimit string, def int) int {
	v := strings.TrimSpace(cpuLimit)
	scale := 1.0
	if m, ok := strings.CutSuffix(v, "m"); ok {
		v, scale = m, 1000
	}
	cpus, err := strconv.ParseFloat(v, 64)
	if err != nil || cpus <= 0 || math.IsInf(cpus, 0) || math.IsNaN(cpus) {
		return def
	}
	return max(1, int(math.Ceil(cpus/scale)))
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
