package deploy

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A check cross-checks the deploy files and returns what it found wrong,
// one line per problem.
type check func(d *deployment) []string

// checks are every check, each named for what it proves.
var checks = []struct {
	name string
	fn   check
}{
	{"every document has apiVersion, kind, name and a known namespace", checkHeaders},
	{"the stack sets documented settings and production stores", checkStackEnvironment},
	{"every secret of the stack is documented and created in openfaas-fn", checkStackSecrets},
	{"store endpoints are Services of the manifests, on ports they expose", checkStoreHosts},
	{"etcd is a 3-member cluster wired to its headless Service", checkEtcdCluster},
	{"the stack's bucket and S3 credentials are those the MinIO setup creates", checkBucketAndCredentials},
	{"secret keys, volume claims and Service selectors resolve", checkReferences},
	{"the watchdog's exec_timeout covers write_timeout", checkTimeouts},
	{"no Secret manifest holds a real value", checkPlaceholders},
	{"docs/production.md names every deploy file", checkProductionDoc},
}

// apiVersions is the API group and version of each kind the manifests may
// use; a kind missing here is reported, so a new one is added on purpose.
var apiVersions = map[string]string{
	"Namespace":             "v1",
	"Secret":                "v1",
	"Service":               "v1",
	"PersistentVolumeClaim": "v1",
	"StatefulSet":           "apps/v1",
	"Deployment":            "apps/v1",
	"Job":                   "batch/v1",
	"CronJob":               "batch/v1",
	"PodDisruptionBudget":   "policy/v1",
	"NetworkPolicy":         "networking.k8s.io/v1",
}

// clusterScoped kinds take no namespace; every other kind needs one.
var clusterScoped = map[string]bool{"Namespace": true}

// functionNamespace is created by the OpenFaaS installation, not here.
const functionNamespace = "openfaas-fn"

func checkHeaders(d *deployment) []string {
	var out []string
	namespaces := map[string]bool{functionNamespace: true}
	for _, m := range d.manifests {
		if m.Kind == "Namespace" {
			namespaces[m.Metadata.Name] = true
		}
	}
	seen := map[string]string{}
	for _, m := range d.manifests {
		where := fmt.Sprintf("%s: %s %q", m.File, m.Kind, m.Metadata.Name)
		if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
			out = append(out, where+": apiVersion, kind and metadata.name are all required")
			continue
		}
		if want, ok := apiVersions[m.Kind]; !ok {
			out = append(out, where+": a kind the checks do not know (add it to apiVersions)")
		} else if m.APIVersion != want {
			out = append(out, fmt.Sprintf("%s: apiVersion %s, want %s", where, m.APIVersion, want))
		}
		ns := m.Metadata.Namespace
		switch {
		case clusterScoped[m.Kind] && ns != "":
			out = append(out, where+": cluster-scoped, yet has a namespace")
		case !clusterScoped[m.Kind] && ns == "":
			out = append(out, where+": namespaced kind without metadata.namespace")
		case !clusterScoped[m.Kind] && !namespaces[ns]:
			out = append(out, fmt.Sprintf("%s: namespace %q is neither created here nor %s", where, ns, functionNamespace))
		}
		id := m.Kind + "/" + ns + "/" + m.Metadata.Name
		if first, dup := seen[id]; dup {
			out = append(out, fmt.Sprintf("%s: defined twice (also in %s)", where, first))
		}
		seen[id] = m.File
	}
	return out
}

func checkStackEnvironment(d *deployment) []string {
	var out []string
	if d.stack.Version != "1.0" || d.stack.Provider.Name != "openfaas" {
		out = append(out, fmt.Sprintf("%s: want version 1.0 and provider openfaas, got %q and %q", stackPath, d.stack.Version, d.stack.Provider.Name))
	}
	if len(d.stack.Functions) == 0 {
		out = append(out, stackPath+": no function")
	}
	aliases := map[string]string{}
	for _, s := range d.config.settings {
		for _, a := range s.aliases {
			aliases[a] = s.name
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.stack.Functions)) {
		fn := d.stack.Functions[name]
		if fn.Lang != "faas-flow" {
			out = append(out, fmt.Sprintf("%s: lang %q, want faas-flow", name, fn.Lang))
		}
		for _, key := range slices.Sorted(maps.Keys(fn.Environment)) {
			s, ok := d.config.settings[key]
			switch {
			case ok && s.source != "env":
				out = append(out, fmt.Sprintf("%s: environment %s is a %s in %s, not an environment variable", name, key, s.source, configDocPath))
			case ok, d.config.watchdog[key]:
			case aliases[key] != "":
				out = append(out, fmt.Sprintf("%s: environment %s is an old name; use %s", name, key, aliases[key]))
			default:
				out = append(out, fmt.Sprintf("%s: environment %s is not a setting of %s", name, key, configDocPath))
			}
		}
		out = append(out, productionSettings(d, name, fn)...)
	}
	return out
}

// productionSettings reports settings that work on one replica or
// without signatures only.
func productionSettings(d *deployment, name string, fn *stackFunction) []string {
	var out []string
	if v := d.envValue(fn, "state_store"); v != "etcd" {
		out = append(out, fmt.Sprintf("%s: state_store %q; production needs etcd", name, v))
	}
	if v := d.envValue(fn, "data_store"); v != "minio" && v != "s3" {
		out = append(out, fmt.Sprintf("%s: data_store %q; production needs minio or s3", name, v))
	}
	if v := fn.Environment["flow_name"]; v != name {
		out = append(out, fmt.Sprintf("%s: flow_name %q; it must be the function's name, which OpenFaaS CE does not inject", name, v))
	}
	if d.envValue(fn, "faasflow_insecure_hops") != "false" || d.envValue(fn, "validate_request") != "true" {
		out = append(out, fmt.Sprintf("%s: hops are not signed (faasflow_insecure_hops, validate_request)", name))
	}
	return out
}

func checkStackSecrets(d *deployment) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(d.stack.Functions)) {
		fn := d.stack.Functions[name]
		documented := map[string]bool{}
		for _, s := range d.config.settings {
			if s.source == "secret" {
				documented[secretName(d, fn, s)] = true
			}
		}
		for _, sec := range fn.Secrets {
			if !documented[sec] {
				out = append(out, fmt.Sprintf("%s: secret %q is not a secret of %s", name, sec, configDocPath))
				continue
			}
			m, ok := d.secret(functionNamespace, sec)
			if !ok {
				out = append(out, fmt.Sprintf("%s: secret %q has no Secret manifest in %s", name, sec, functionNamespace))
			} else if _, ok := m.value(sec); !ok {
				out = append(out, fmt.Sprintf("%s: Secret %s/%s has keys %v, not %q: the function would find no /var/openfaas/secrets/%s",
					name, functionNamespace, sec, m.keys(), sec, sec))
			}
		}
		need := []string{"faasflow-hmac-secret",
			secretName(d, fn, d.config.settings["s3-access-key"]), secretName(d, fn, d.config.settings["s3-secret-key"])}
		for _, sec := range need {
			if !slices.Contains(fn.Secrets, sec) {
				out = append(out, fmt.Sprintf("%s: secrets lacks %q, which the flow reads", name, sec))
			}
		}
	}
	return out
}

// secretName is the name under which fn reads the documented secret s:
// its own, or the one the setting s.nameFrom gives it.
func secretName(d *deployment, fn *stackFunction, s setting) string {
	if s.nameFrom != "" {
		if v := d.envValue(fn, s.nameFrom); v != "" {
			return v
		}
	}
	return s.name
}

func checkReferences(d *deployment) []string {
	var out []string
	for _, w := range d.workloads {
		ns := w.Metadata.Namespace
		where := fmt.Sprintf("%s %s/%s", w.Kind, ns, w.Metadata.Name)
		for _, c := range w.containers() {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if s, ok := d.secret(ns, ref.Name); !ok {
					out = append(out, fmt.Sprintf("%s: %s reads Secret %s, which no manifest creates in %s", where, e.Name, ref.Name, ns))
				} else if _, ok := s.value(ref.Key); !ok {
					out = append(out, fmt.Sprintf("%s: %s reads key %q of Secret %s, which has %v", where, e.Name, ref.Key, ref.Name, s.keys()))
				}
			}
		}
		for _, v := range w.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && !slices.ContainsFunc(d.pvcs, func(m objectMeta) bool {
				return m.Namespace == ns && m.Name == v.PersistentVolumeClaim.ClaimName
			}) {
				out = append(out, fmt.Sprintf("%s: volume %s claims %q, which no manifest creates", where, v.Name, v.PersistentVolumeClaim.ClaimName))
			}
		}
	}
	for _, s := range d.services {
		if len(d.selected(s)) == 0 {
			out = append(out, fmt.Sprintf("Service %s/%s selects the pods of no workload", s.Metadata.Namespace, s.Metadata.Name))
		}
	}
	return out
}

func checkTimeouts(d *deployment) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(d.stack.Functions)) {
		fn := d.stack.Functions[name]
		write, err := parseDuration(d.envValue(fn, "write_timeout"))
		if err != nil {
			out = append(out, fmt.Sprintf("%s: write_timeout: %v", name, err))
			continue
		}
		exec, err := parseDuration(fn.Environment["exec_timeout"])
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s: exec_timeout must be set next to write_timeout: %v", name, err))
		case exec != 0 && exec < write:
			out = append(out, fmt.Sprintf("%s: exec_timeout %s is shorter than write_timeout %s: the watchdog would cut nodes short", name, exec, write))
		}
	}
	return out
}

// parseDuration reads whole seconds or a Go duration, as the flow does.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// placeholderPrefix starts every value of the Secret templates.
const placeholderPrefix = "CHANGE-ME"

func checkPlaceholders(d *deployment) []string {
	var out []string
	for _, s := range d.secrets {
		for _, k := range s.keys() {
			if v, _ := s.value(k); !strings.HasPrefix(v, placeholderPrefix) {
				out = append(out, fmt.Sprintf("Secret %s/%s: key %s holds a value that does not start with %s; keep real values out of the repository",
					s.Metadata.Namespace, s.Metadata.Name, k, placeholderPrefix))
			}
		}
	}
	return out
}

func checkProductionDoc(d *deployment) []string {
	b, err := os.ReadFile(prodDocPath)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	files := []string{stackPath}
	for _, m := range d.manifests {
		files = append(files, m.File)
	}
	slices.Sort(files)
	for _, f := range slices.Compact(files) {
		if !strings.Contains(string(b), "deploy/"+f) {
			out = append(out, fmt.Sprintf("%s does not mention deploy/%s", prodDocPath, f))
		}
	}
	return out
}

// secret returns the Secret manifest ns/name.
func (d *deployment) secret(ns, name string) (secret, bool) {
	for _, s := range d.secrets {
		if s.Metadata.Namespace == ns && s.Metadata.Name == name {
			return s, true
		}
	}
	return secret{}, false
}
