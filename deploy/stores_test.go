package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// storeEndpoints are the settings that point a flow at a store, and a word
// of the image that must serve them.
var storeEndpoints = []struct{ setting, image string }{
	{"etcd_endpoints", "etcd"},
	{"s3_url", "minio"},
}

func checkStoreHosts(d *deployment) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(d.stack.Functions)) {
		fn := d.stack.Functions[name]
		for _, st := range storeEndpoints {
			for _, ep := range strings.Split(d.envValue(fn, st.setting), ",") {
				if p := d.endpointProblem(strings.TrimSpace(ep), st.image); p != "" {
					out = append(out, fmt.Sprintf("%s: %s %q: %s", name, st.setting, ep, p))
				}
			}
		}
	}
	return out
}

// endpointProblem says why ep ("host:port" or a URL) is not a port of a
// Service of the manifests whose pods run image, or "".
func (d *deployment) endpointProblem(ep, image string) string {
	host, port, err := splitEndpoint(ep)
	if err != nil {
		return err.Error()
	}
	svc, ns, ok := serviceHost(host)
	if !ok {
		return "not a Service name <service>.<namespace>[.svc[.cluster.local]]"
	}
	s, ok := d.service(ns, svc)
	if !ok {
		return fmt.Sprintf("no Service %s in namespace %s among the manifests", svc, ns)
	}
	if !slices.ContainsFunc(s.Spec.Ports, func(p servicePort) bool { return p.Port == port }) {
		return fmt.Sprintf("Service %s/%s exposes no port %d", ns, svc, port)
	}
	if !slices.ContainsFunc(d.selected(s), func(w workload) bool { return runs(w, image) != nil }) {
		return fmt.Sprintf("Service %s/%s does not select pods running %s", ns, svc, image)
	}
	return ""
}

// splitEndpoint returns the host and port of "host:port" or of a URL.
func splitEndpoint(ep string) (string, int, error) {
	hostPort := ep
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		hostPort = u.Host
	}
	host, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", 0, fmt.Errorf("want host:port: %w", err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}

// serviceHost splits a Service's DNS name: name.namespace, optionally
// followed by .svc or .svc.cluster.local.
func serviceHost(host string) (name, ns string, ok bool) {
	parts := strings.SplitN(strings.TrimSuffix(host, "."), ".", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	if len(parts) == 3 && parts[2] != "svc" && parts[2] != "svc.cluster.local" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// service returns the Service manifest ns/name.
func (d *deployment) service(ns, name string) (service, bool) {
	for _, s := range d.services {
		if s.Metadata.Namespace == ns && s.Metadata.Name == name {
			return s, true
		}
	}
	return service{}, false
}

// selected lists the workloads of s's namespace whose pods s selects.
func (d *deployment) selected(s service) []workload {
	var out []workload
	for _, w := range d.workloads {
		if w.Metadata.Namespace != s.Metadata.Namespace || len(s.Spec.Selector) == 0 {
			continue
		}
		labels := w.Template.Metadata.Labels
		if !slices.ContainsFunc(slices.Collect(maps.Keys(s.Spec.Selector)), func(k string) bool {
			v, ok := labels[k]
			return !ok || v != s.Spec.Selector[k]
		}) {
			out = append(out, w)
		}
	}
	return out
}

// runs returns w's first container whose image names image, or nil.
func runs(w workload, image string) *container {
	for _, c := range w.containers() {
		repo, _, _ := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")
		if repo == image {
			return &c
		}
	}
	return nil
}

func checkEtcdCluster(d *deployment) []string {
	var sets []workload
	for _, w := range d.workloads {
		if w.Kind == "StatefulSet" && runs(w, "etcd") != nil {
			sets = append(sets, w)
		}
	}
	if len(sets) != 1 {
		return []string{fmt.Sprintf("want one StatefulSet running etcd, found %d", len(sets))}
	}
	w := sets[0]
	where := fmt.Sprintf("StatefulSet %s/%s", w.Metadata.Namespace, w.Metadata.Name)
	var out []string
	if w.Replicas != 3 {
		out = append(out, fmt.Sprintf("%s: %d replicas, want 3 (a quorum that survives the loss of one member)", where, w.Replicas))
	}
	if w.PodManagementPolicy != "Parallel" {
		out = append(out, where+": podManagementPolicy must be Parallel, or the first member waits forever for a quorum")
	}
	if len(w.ClaimTemplates) == 0 {
		out = append(out, where+": no volumeClaimTemplates: a restarted member would lose its data")
	}
	if a := w.Template.Spec.Affinity; a == nil || a.PodAntiAffinity == nil {
		out = append(out, where+": no pod anti-affinity: several members could share a node")
	}
	headless, ok := d.service(w.Metadata.Namespace, w.ServiceName)
	switch {
	case !ok || headless.Spec.ClusterIP != "None":
		return append(out, fmt.Sprintf("%s: serviceName %q is no headless Service of the manifests", where, w.ServiceName))
	case !headless.Spec.PublishNotReadyAddresses:
		out = append(out, fmt.Sprintf("Service %s: publishNotReadyAddresses must be true, or members cannot find each other to elect a leader", w.ServiceName))
	}
	return append(out, etcdMemberProblems(w, *runs(w, "etcd"), headless)...)
}

// etcdMemberProblems checks the initial member list against the pods of w
// and their names under the headless Service.
func etcdMemberProblems(w workload, c container, headless service) []string {
	where := fmt.Sprintf("StatefulSet %s/%s", w.Metadata.Namespace, w.Metadata.Name)
	var out []string
	name, _ := c.env("ETCD_NAME")
	pod, _ := c.env("POD_NAME")
	if name.Value != "$(POD_NAME)" || pod.ValueFrom == nil || pod.ValueFrom.FieldRef == nil || pod.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		out = append(out, where+": ETCD_NAME must be $(POD_NAME), taken from metadata.name")
	}
	members := map[string]string{}
	for _, m := range strings.Split(etcdFlag(c, "ETCD_INITIAL_CLUSTER", "--initial-cluster"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(m), "=")
		members[k] = v
	}
	if len(members) != w.Replicas {
		out = append(out, fmt.Sprintf("%s: the initial cluster lists %d members for %d replicas", where, len(members), w.Replicas))
	}
	advertised := etcdFlag(c, "ETCD_INITIAL_ADVERTISE_PEER_URLS", "--initial-advertise-peer-urls")
	pods := map[string]bool{}
	for i := range w.Replicas {
		p := fmt.Sprintf("%s-%d", w.Metadata.Name, i)
		pods[p] = true
		u, ok := members[p]
		if !ok {
			out = append(out, fmt.Sprintf("%s: the initial cluster has no member %s", where, p))
			continue
		}
		if want := strings.ReplaceAll(advertised, "$(POD_NAME)", p); u != want {
			out = append(out, fmt.Sprintf("%s: member %s is %s in the initial cluster but advertises %s", where, p, u, want))
		}
		if problem := podURLProblem(u, p, headless); problem != "" {
			out = append(out, fmt.Sprintf("%s: member %s: %s", where, p, problem))
		}
	}
	for _, m := range slices.Sorted(maps.Keys(members)) {
		if !pods[m] {
			out = append(out, fmt.Sprintf("%s: the initial cluster names %q, which is no pod of it", where, m))
		}
	}
	return out
}

// podURLProblem says why u is not pod's name under the headless Service on
// one of its ports, or "".
func podURLProblem(u, pod string, headless service) string {
	host, port, err := splitEndpoint(u)
	if err != nil {
		return err.Error()
	}
	rest, ok := strings.CutPrefix(host, pod+".")
	if svc, ns, okSvc := serviceHost(rest); !ok || !okSvc || svc != headless.Metadata.Name || ns != headless.Metadata.Namespace {
		return fmt.Sprintf("%s is not %s.%s.%s.svc.cluster.local", host, pod, headless.Metadata.Name, headless.Metadata.Namespace)
	}
	if !slices.ContainsFunc(headless.Spec.Ports, func(p servicePort) bool { return p.Port == port }) {
		return fmt.Sprintf("port %d is not a port of Service %s", port, headless.Metadata.Name)
	}
	return ""
}

// etcdFlag returns an etcd setting given as an environment variable or as a
// --flag=value argument.
func etcdFlag(c container, env, flag string) string {
	if e, ok := c.env(env); ok {
		return e.Value
	}
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

func checkBucketAndCredentials(d *deployment) []string {
	var job workload
	var c *container
	for _, w := range d.workloads {
		for _, wc := range w.containers() {
			if w.Kind == "Job" && strings.Contains(wc.script(), "mc mb") {
				job, c = w, &wc
			}
		}
	}
	if c == nil {
		return []string{"no Job runs `mc mb` to create the flows' bucket"}
	}
	where := fmt.Sprintf("Job %s/%s", job.Metadata.Namespace, job.Metadata.Name)
	script := c.script()
	bucketArgs, userArgs := shellArgs(script, "mc mb"), shellArgs(script, "mc admin user add")
	if len(bucketArgs) < 1 || len(userArgs) < 3 {
		return []string{where + ": want `mc mb <alias>/<bucket>` and `mc admin user add <alias> <key> <secret>`"}
	}
	var out []string
	_, bucket, _ := strings.Cut(d.expand(job, *c, bucketArgs[0], &out), "/")
	key, secretKey := d.expand(job, *c, userArgs[1], &out), d.expand(job, *c, userArgs[2], &out)
	for _, name := range slices.Sorted(maps.Keys(d.stack.Functions)) {
		fn := d.stack.Functions[name]
		if b := d.envValue(fn, "s3_bucket"); b != bucket {
			out = append(out, fmt.Sprintf("%s: s3_bucket %q, but %s creates bucket %q", name, b, where, bucket))
		}
		for _, pair := range []struct{ setting, want string }{{"s3-access-key", key}, {"s3-secret-key", secretKey}} {
			sec := secretName(d, fn, d.config.settings[pair.setting])
			s, _ := d.secret(functionNamespace, sec)
			if got, _ := s.value(sec); got != pair.want {
				out = append(out, fmt.Sprintf("%s: secret %s holds %q, but the MinIO user %s creates has %q", name, sec, got, where, pair.want))
			}
		}
	}
	return out
}

// shellArgs returns the words after the first occurrence of command in
// script, up to the end of its line, options left out.
func shellArgs(script, command string) []string {
	_, rest, ok := strings.Cut(script, command+" ")
	if !ok {
		return nil
	}
	line, _, _ := strings.Cut(rest, "\n")
	var out []string
	for _, w := range strings.Fields(line) {
		if w == ";" || w == "&&" || w == "||" {
			break
		}
		if !strings.HasPrefix(w, "-") {
			out = append(out, strings.Trim(w, `"'`))
		}
	}
	return out
}

var shellVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// expand replaces the variables of word by the values the container gives
// them (literal values, or the Secret key they come from); a variable it
// cannot resolve is reported in problems.
func (d *deployment) expand(w workload, c container, word string, problems *[]string) string {
	return shellVar.ReplaceAllStringFunc(word, func(v string) string {
		name := shellVar.FindStringSubmatch(v)[1]
		e, ok := c.env(name)
		switch {
		case ok && e.ValueFrom == nil:
			return e.Value
		case ok && e.ValueFrom.SecretKeyRef != nil:
			s, _ := d.secret(w.Metadata.Namespace, e.ValueFrom.SecretKeyRef.Name)
			if val, ok := s.value(e.ValueFrom.SecretKeyRef.Key); ok {
				return val
			}
		}
		*problems = append(*problems, fmt.Sprintf("Job %s: cannot resolve $%s of container %s", w.Metadata.Name, name, c.Name))
		return v
	})
}
