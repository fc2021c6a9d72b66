package deploy

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// No Kubernetes cluster or OpenFaaS runs these tests: they read the files
// and cross-check them. Whether the manifests work once applied is not
// proven here (docs/production.md says what is and is not).
func TestDeployFilesAreConsistent(t *testing.T) {
	d := load(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.fn(d) {
				t.Error(p)
			}
		})
	}
}

// brokenCase breaks a copy of the deploy files the way a careless edit
// would, and names the problem the check must report.
type brokenCase struct {
	name   string
	check  check
	breaks func(t *testing.T, d *deployment)
	want   string
}

var brokenCases = []brokenCase{
	{"a document without apiVersion", checkHeaders, func(t *testing.T, d *deployment) {
		d.manifests[0].APIVersion = ""
	}, "apiVersion, kind and metadata.name are all required"},
	{"a namespaced document without a namespace", checkHeaders, func(t *testing.T, d *deployment) {
		manifestOf(t, d, "Service").Metadata.Namespace = ""
	}, "namespaced kind without metadata.namespace"},
	{"a namespace no manifest creates", checkHeaders, func(t *testing.T, d *deployment) {
		manifestOf(t, d, "Secret").Metadata.Namespace = "faasflw"
	}, `namespace "faasflw" is neither created here`},
	{"an outdated apiVersion", checkHeaders, func(t *testing.T, d *deployment) {
		manifestOf(t, d, "StatefulSet").APIVersion = "apps/v1beta1"
	}, "want apps/v1"},
	{"an undocumented environment key", checkStackEnvironment, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["etcd_endpoint"] = "etcd.faasflow:2379"
	}, "environment etcd_endpoint is not a setting"},
	{"a secret given as an environment variable", checkStackEnvironment, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["faasflow-hmac-secret"] = "xyz"
	}, "faasflow-hmac-secret is a secret"},
	{"an old name of a setting", checkStackEnvironment, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["enable_hmac"] = "true"
	}, "enable_hmac is an old name; use validate_request"},
	{"an in-memory state store", checkStackEnvironment, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["state_store"] = "memory"
	}, "production needs etcd"},
	{"unsigned hops", checkStackEnvironment, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["faasflow_insecure_hops"] = "true"
	}, "hops are not signed"},
	{"a secret with no manifest", checkStackSecrets, func(t *testing.T, d *deployment) {
		d.secrets = slices.DeleteFunc(d.secrets, func(s secret) bool { return s.Metadata.Name == "s3-secret-key" })
	}, `secret "s3-secret-key" has no Secret manifest in openfaas-fn`},
	{"an undocumented secret", checkStackSecrets, func(t *testing.T, d *deployment) {
		fn := theFlow(t, d)
		fn.Secrets = append(fn.Secrets, "db-password")
	}, `secret "db-password" is not a secret of`},
	{"a Secret whose key is not its name", checkStackSecrets, func(t *testing.T, d *deployment) {
		secretOf(t, d, functionNamespace, "faasflow-hmac-secret").StringData = map[string]string{"value": "CHANGE-ME"}
	}, "would find no /var/openfaas/secrets/faasflow-hmac-secret"},
	{"a flow without the HMAC secret", checkStackSecrets, func(t *testing.T, d *deployment) {
		fn := theFlow(t, d)
		fn.Secrets = slices.DeleteFunc(fn.Secrets, func(s string) bool { return s == "faasflow-hmac-secret" })
	}, `lacks "faasflow-hmac-secret"`},
	{"an etcd host in the wrong namespace", checkStoreHosts, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["etcd_endpoints"] = "etcd.default.svc.cluster.local:2379"
	}, "no Service etcd in namespace default"},
	{"an S3 port the Service does not expose", checkStoreHosts, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["s3_url"] = "http://minio.faasflow.svc.cluster.local:9999"
	}, "exposes no port 9999"},
	{"etcd endpoints at the MinIO Service", checkStoreHosts, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["etcd_endpoints"] = "minio.faasflow:9000"
	}, "does not select pods running etcd"},
	{"a host that is no Service name", checkStoreHosts, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["etcd_endpoints"] = "etcd:2379"
	}, "not a Service name"},
	{"2 etcd replicas", checkEtcdCluster, func(t *testing.T, d *deployment) {
		etcdSet(t, d).Replicas = 2
	}, "2 replicas, want 3"},
	{"an initial cluster naming a pod that does not exist", checkEtcdCluster, func(t *testing.T, d *deployment) {
		editEnv(t, etcdSet(t, d), "ETCD_INITIAL_CLUSTER", "etcd-2=", "etcd-3=")
	}, "the initial cluster has no member etcd-2"},
	{"an initial cluster on the client Service", checkEtcdCluster, func(t *testing.T, d *deployment) {
		editEnv(t, etcdSet(t, d), "ETCD_INITIAL_CLUSTER", ".etcd-headless.", ".etcd.")
	}, "is not etcd-0.etcd-headless.faasflow.svc.cluster.local"},
	{"members named otherwise than their pods", checkEtcdCluster, func(t *testing.T, d *deployment) {
		editEnv(t, etcdSet(t, d), "ETCD_NAME", "$(POD_NAME)", "etcd")
	}, "ETCD_NAME must be $(POD_NAME)"},
	{"a headless Service that hides unready members", checkEtcdCluster, func(t *testing.T, d *deployment) {
		for i := range d.services {
			d.services[i].Spec.PublishNotReadyAddresses = false
		}
	}, "publishNotReadyAddresses must be true"},
	{"etcd members started one at a time", checkEtcdCluster, func(t *testing.T, d *deployment) {
		etcdSet(t, d).PodManagementPolicy = "OrderedReady"
	}, "podManagementPolicy must be Parallel"},
	{"a bucket the setup job does not create", checkBucketAndCredentials, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["s3_bucket"] = "flows"
	}, `s3_bucket "flows", but Job faasflow/minio-setup creates bucket "faasflow"`},
	{"flow credentials that differ from the MinIO user", checkBucketAndCredentials, func(t *testing.T, d *deployment) {
		secretOf(t, d, functionNamespace, "s3-access-key").StringData["s3-access-key"] = "CHANGE-ME-other"
	}, "secret s3-access-key holds \"CHANGE-ME-other\", but the MinIO user"},
	{"a secretKeyRef to a missing key", checkReferences, func(t *testing.T, d *deployment) {
		delete(secretOf(t, d, "faasflow", "minio-credentials").StringData, "root-password")
	}, `reads key "root-password" of Secret minio-credentials`},
	{"a volume claim no manifest creates", checkReferences, func(t *testing.T, d *deployment) {
		d.pvcs = nil
	}, `claims "minio-data", which no manifest creates`},
	{"a Service that selects no pod", checkReferences, func(t *testing.T, d *deployment) {
		d.services[0].Spec.Selector = map[string]string{"app.kubernetes.io/name": "nothing"}
	}, "selects the pods of no workload"},
	{"exec_timeout shorter than write_timeout", checkTimeouts, func(t *testing.T, d *deployment) {
		theFlow(t, d).Environment["exec_timeout"] = "30"
	}, "exec_timeout 30s is shorter than write_timeout"},
	{"write_timeout raised without exec_timeout", checkTimeouts, func(t *testing.T, d *deployment) {
		delete(theFlow(t, d).Environment, "exec_timeout")
	}, "exec_timeout must be set"},
	{"a real value in a Secret manifest", checkPlaceholders, func(t *testing.T, d *deployment) {
		secretOf(t, d, functionNamespace, "faasflow-hmac-secret").StringData["faasflow-hmac-secret"] = "c2VjcmV0"
	}, "key faasflow-hmac-secret holds a value that does not start with CHANGE-ME"},
	{"a manifest the production doc does not mention", checkProductionDoc, func(t *testing.T, d *deployment) {
		d.manifests = append(d.manifests, manifest{File: "kubernetes/99-extra.yaml"})
	}, "does not mention deploy/kubernetes/99-extra.yaml"},
}

func TestChecksReportBrokenDeployFiles(t *testing.T) {
	for _, tc := range brokenCases {
		t.Run(tc.name, func(t *testing.T) {
			d := load(t)
			if got := tc.check(d); len(got) != 0 {
				t.Fatalf("the files as they are already fail this check: %q", got)
			}
			tc.breaks(t, d)
			got := tc.check(d)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("want a problem containing %q, got %q", tc.want, got)
			}
		})
	}
}

// Every check is proven able to fail by at least one broken case.
func TestEveryCheckHasABrokenCase(t *testing.T) {
	for _, c := range checks {
		if !slices.ContainsFunc(brokenCases, func(b brokenCase) bool { return sameFunc(b.check, c.fn) }) {
			t.Errorf("check %q has no case in brokenCases", c.name)
		}
	}
}

// sameFunc reports whether a and b are the same function.
func sameFunc(a, b check) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

func TestConfigDocRowsParse(t *testing.T) {
	cases := []struct {
		line string
		want setting
		ok   bool
	}{
		{"| `s3_url` | env | `minio.faasflow:9000` | S3 endpoint. |",
			setting{name: "s3_url", source: "env", def: "minio.faasflow:9000"}, true},
		{"| `validate_request` (then `enable_hmac`) | env | `true` | Signing. |",
			setting{name: "validate_request", aliases: []string{"enable_hmac"}, source: "env", def: "true"}, true},
		{"| `flow_name` (then `OPENFAAS_NAME`, `workflow_name`) | env | — | Name. |",
			setting{name: "flow_name", aliases: []string{"OPENFAAS_NAME", "workflow_name"}, source: "env"}, true},
		{"| `s3-access-key` | secret (name from `s3_access_key_name`) | — | Key. |",
			setting{name: "s3-access-key", source: "secret", nameFrom: "s3_access_key_name"}, true},
		{"| Name | Source | Default | Meaning |", setting{}, false},
		{"|---|---|---|---|", setting{}, false},
		{"The watchdog's own variables (`fprocess`) are set elsewhere.", setting{}, false},
	}
	for _, tc := range cases {
		got, ok := parseSettingRow(tc.line)
		if ok != tc.ok || got.name != tc.want.name || !slices.Equal(got.aliases, tc.want.aliases) ||
			got.source != tc.want.source || got.def != tc.want.def || got.nameFrom != tc.want.nameFrom {
			t.Errorf("parseSettingRow(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestServiceHostNamesSplit(t *testing.T) {
	cases := []struct {
		host, name, ns string
		ok             bool
	}{
		{"etcd.faasflow", "etcd", "faasflow", true},
		{"etcd.faasflow.svc", "etcd", "faasflow", true},
		{"etcd.faasflow.svc.cluster.local", "etcd", "faasflow", true},
		{"etcd.faasflow.svc.cluster.local.", "etcd", "faasflow", true},
		{"etcd", "", "", false},
		{"etcd.faasflow.example.com", "", "", false},
		{"10.0.0.5", "", "", false},
	}
	for _, tc := range cases {
		name, ns, ok := serviceHost(tc.host)
		if name != tc.name || ns != tc.ns || ok != tc.ok {
			t.Errorf("serviceHost(%q) = %q, %q, %v; want %q, %q, %v", tc.host, name, ns, ok, tc.name, tc.ns, tc.ok)
		}
	}
}

// theFlow is the first function of the stack.
func theFlow(t *testing.T, d *deployment) *stackFunction {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(d.stack.Functions)) {
		return d.stack.Functions[name]
	}
	t.Fatal("the stack has no function")
	return nil
}

func manifestOf(t *testing.T, d *deployment, kind string) *manifest {
	t.Helper()
	for i := range d.manifests {
		if d.manifests[i].Kind == kind {
			return &d.manifests[i]
		}
	}
	t.Fatalf("no %s among the manifests", kind)
	return nil
}

func secretOf(t *testing.T, d *deployment, ns, name string) *secret {
	t.Helper()
	for i, s := range d.secrets {
		if s.Metadata.Namespace == ns && s.Metadata.Name == name {
			return &d.secrets[i]
		}
	}
	t.Fatalf("no Secret %s/%s among the manifests", ns, name)
	return nil
}

func etcdSet(t *testing.T, d *deployment) *workload {
	t.Helper()
	for i, w := range d.workloads {
		if w.Kind == "StatefulSet" && runs(w, "etcd") != nil {
			return &d.workloads[i]
		}
	}
	t.Fatal("no etcd StatefulSet among the manifests")
	return nil
}

// editEnv replaces old by new in the value of the variable name of w's
// first container.
func editEnv(t *testing.T, w *workload, name, old, new string) {
	t.Helper()
	env := w.Template.Spec.Containers[0].Env
	for i := range env {
		if env[i].Name == name && strings.Contains(env[i].Value, old) {
			env[i].Value = strings.ReplaceAll(env[i].Value, old, new)
			return
		}
	}
	t.Fatalf("%s has no variable %s containing %q", w.Metadata.Name, name, old)
}
