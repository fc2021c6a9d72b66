package gateway

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/faas-flow/faas-flow/gateway/api"
)

func TestDeployOfFunctionThatDoesNotCompileReportsCompilerOutput(t *testing.T) {
	l := sharedLocal(t)
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "handler.go"), []byte("package function\n\nimport \"net/http\"\n\nfunc Handle(w http.ResponseWriter, r *http.Request) { notDefined() }\n"), 0o644)
	stack := filepath.Join(t.TempDir(), "stack.yml")
	os.WriteFile(stack, []byte("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  broken:\n    lang: golang-middleware\n    handler: "+bad+"\n    image: broken:1\n"), 0o644)
	err := l.Deploy(context.Background(), stack, nil)
	if err == nil || !strings.Contains(err.Error(), "undefined: notDefined") {
		t.Fatalf("deploy error = %v, want the compiler output", err)
	}
	if r := do(t, "GET", l.URL()+"/function/broken", "", nil); r.code != http.StatusNotFound {
		t.Fatalf("broken function was deployed: %d", r.code)
	}
}

func TestKilledFunctionGivesSyncCaller502AndRestarts(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-crash"})
	if r := do(t, "GET", l.URL()+"/function/f-crash/", "", nil); r.code != 200 {
		t.Fatalf("warm-up = %d", r.code)
	}
	r := do(t, "POST", l.URL()+"/function/f-crash/crash", "", nil)
	if r.code != http.StatusBadGateway {
		t.Fatalf("call to a process dying mid-request = %d %q, want 502", r.code, r.body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := do(t, "GET", l.URL()+"/function/f-crash/", "", nil)
		if r.code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("function not back after crash: %d %q", r.code, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(scrape(t, l), `faasflow_function_restarts_total{function_name="f-crash"}`) {
		t.Error("restart not counted in /metrics")
	}
}

func TestKilledFunctionAsyncRequestIsRedeliveredAndCompletes(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-crash-async"})
	cb, ch := callbackServer(t)
	retrySeries := `faasflow_queue_processed_total{function_name="f-crash-async",outcome="retry"}`
	before := metricValue(scrape(t, l), retrySeries)
	marker := filepath.Join(t.TempDir(), "marker")
	r := do(t, "POST", l.URL()+"/async-function/f-crash-async/crash-once?marker="+marker, "", map[string]string{"X-Callback-Url": cb})
	if r.code != http.StatusAccepted {
		t.Fatalf("async = %d", r.code)
	}
	c := waitCallback(t, ch, 30*time.Second)
	if c.header.Get("X-Function-Status") != "200" || c.body != "survived" {
		t.Fatalf("callback %s %q", c.header.Get("X-Function-Status"), c.body)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the first attempt never ran")
	}
	if after := metricValue(scrape(t, l), retrySeries); after-before != 1 {
		t.Errorf("retries counted %v, want 1:\n%s", after-before, grep(scrape(t, l), "faasflow_queue"))
	}
}

func TestExecTimeoutAnswers504(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-slow", env: map[string]string{"exec_timeout": "500ms", "write_timeout": "10s"}})
	start := time.Now()
	r := do(t, "GET", l.URL()+"/function/f-slow/sleep?d=3s", "", nil)
	if r.code != http.StatusGatewayTimeout || time.Since(start) > 2500*time.Millisecond {
		t.Fatalf("slow call = %d after %s, want 504 after ~500ms", r.code, time.Since(start))
	}
}

func TestRestartedGatewayKeepsFunctionsAndQueuedRequests(t *testing.T) {
	state := t.TempDir()
	o := fastOptions(state)
	o.NoQueueWorker = true
	l1, err := StartLocal(context.Background(), o)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	deploy(t, l1, fnDef{name: "kept", env: map[string]string{"FOO": "persisted"}})
	u1, p1 := l1.Credentials()
	cb, ch := callbackServer(t)
	for _, id := range []string{"q1", "q2"} {
		if r := do(t, "POST", l1.URL()+"/async-function/kept/env?k=FOO", "", map[string]string{"X-Callback-Url": cb, "X-Call-Id": id}); r.code != 202 {
			t.Fatalf("async = %d", r.code)
		}
	}
	if err := l1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case c := <-ch:
		t.Fatalf("request ran without a worker: %v", c.header)
	default:
	}

	o.NoQueueWorker = false
	l2 := startLocal(t, o)
	if u2, p2 := l2.Credentials(); u2 != u1 || p2 != p1 {
		t.Errorf("credentials changed across restart")
	}
	got := map[string]bool{}
	for range 2 {
		c := waitCallback(t, ch, 30*time.Second)
		if c.body != "persisted" {
			t.Errorf("queued request answered %q", c.body)
		}
		got[c.header.Get("X-Call-Id")] = true
	}
	if !got["q1"] || !got["q2"] {
		t.Fatalf("callbacks for %v, want q1 and q2", got)
	}
	if r := do(t, "GET", l2.URL()+"/function/kept/env?k=FOO", "", nil); r.code != 200 || r.body != "persisted" {
		t.Fatalf("function after restart = %d %q", r.code, r.body)
	}
}

func TestPortInUseIsOneClearError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o := fastOptions(t.TempDir())
	o.Port = ln.Addr().(*net.TCPAddr).Port
	l, err := StartLocal(context.Background(), o)
	if err == nil {
		l.Close()
		t.Fatal("started on a port in use")
	}
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), ln.Addr().String()) || strings.Count(err.Error(), "\n") > 0 {
		t.Fatalf("error = %q", err)
	}
	// the failed start released the state dir
	o.Port = 0
	startLocal(t, o)
}

func TestSecondGatewayOnSameStateDirIsRefused(t *testing.T) {
	o := fastOptions(t.TempDir())
	startLocal(t, o)
	if _, err := StartLocal(context.Background(), o); !errors.Is(err, ErrStateDirInUse) {
		t.Fatalf("second start = %v, want ErrStateDirInUse", err)
	}
}

func TestSecretsAPIFeedsFunctionSecretMount(t *testing.T) {
	l := sharedLocal(t)
	if r := sys(t, l, "POST", "/system/secrets", `{"name":"api-key","value":"v1"}`); r.code != 202 {
		t.Fatalf("create = %d", r.code)
	}
	if r := sys(t, l, "POST", "/system/secrets", `{"name":"api-key","value":"v1"}`); r.code != http.StatusConflict {
		t.Fatalf("duplicate create = %d", r.code)
	}
	if r := sys(t, l, "PUT", "/system/secrets", `{"name":"api-key","rawValue":"djI="}`); r.code != 202 {
		t.Fatalf("update = %d", r.code)
	}
	if r := sys(t, l, "GET", "/system/secrets", ""); !strings.Contains(r.body, `"name":"api-key"`) || strings.Contains(r.body, "v2") {
		t.Fatalf("list = %q (must not reveal values)", r.body)
	}
	deploy(t, l, fnDef{name: "f-secret", secrets: []string{"api-key", "faasflow-hmac-secret"}})
	if r := do(t, "GET", l.URL()+"/function/f-secret/secret?name=api-key", "", nil); r.body != "v2" {
		t.Fatalf("secret in function = %d %q", r.code, r.body)
	}
	if r := do(t, "GET", l.URL()+"/function/f-secret/secret?name=faasflow-hmac-secret", "", nil); r.code != 200 || len(strings.TrimSpace(r.body)) < 32 {
		t.Fatalf("generated hmac secret = %d %q", r.code, r.body)
	}
	r := sys(t, l, "POST", "/system/functions", `{"service":"f-nosecret","image":"f-secret:latest","secrets":["missing"]}`)
	if r.code != 400 || !strings.Contains(r.body, "unable to find secret: missing") {
		t.Fatalf("deploy with missing secret = %d %q", r.code, r.body)
	}
	if r := sys(t, l, "DELETE", "/system/secrets", `{"name":"api-key"}`); r.code != 202 {
		t.Fatalf("delete = %d", r.code)
	}
	if r := sys(t, l, "DELETE", "/system/secrets", `{"name":"api-key"}`); r.code != 404 {
		t.Fatalf("second delete = %d", r.code)
	}
}

func TestFlowFunctionsGetStoreEnvironment(t *testing.T) {
	l := sharedLocal(t)
	// a stand-in template whose language is faas-flow (the real one is
	// another package's); the gateway keys the flow env on the language.
	stackDir := t.TempDir()
	tdir := filepath.Join(stackDir, "template", "faas-flow")
	copyDir(t, repoRoot+"/template/golang-middleware", tdir)
	os.WriteFile(filepath.Join(tdir, "template.yml"), []byte("language: faas-flow\nfprocess: ./handler\n"), 0o644)
	stack := filepath.Join(stackDir, "stack.yml")
	os.WriteFile(stack, []byte("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  f-flow:\n    lang: faas-flow\n    handler: "+handlerDir+"\n    image: f-flow:1\n    environment:\n      data_store: memory\n"), 0o644)
	if err := l.Deploy(context.Background(), stack, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"state_store": "etcd", "etcd_endpoints": l.EtcdEndpoints()[0],
		"data_store": "memory", // the stack's environment wins over the defaults
		"data_dir":   filepath.Join(l.StateDir(), "data"),
	}
	for k, v := range want {
		if r := do(t, "GET", l.URL()+"/function/f-flow/env?k="+k, "", nil); r.body != v {
			t.Errorf("env %s = %q, want %q", k, r.body, v)
		}
	}
	if r := do(t, "GET", l.URL()+"/function/c13/env?k=state_store", "", nil); r.body != "" && r.code == 200 {
		t.Errorf("a golang-middleware function got state_store=%q", r.body)
	}
}

func TestFprocessOnlyFunctionRunsPerRequest(t *testing.T) {
	l := sharedLocal(t)
	stack := filepath.Join(t.TempDir(), "stack.yml")
	os.WriteFile(stack, []byte("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  f-upper:\n    image: alpine:latest\n    fprocess: tr a-z A-Z\n"), 0o644)
	if err := l.Deploy(context.Background(), stack, nil); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", l.URL()+"/function/f-upper", "shout", nil); r.code != 200 || r.body != "SHOUT" {
		t.Fatalf("classic = %d %q", r.code, r.body)
	}
}

func TestScaleToZeroStopsAndInvocationScalesBackUp(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-scale"})
	if r := sys(t, l, "POST", "/system/scale-function/f-scale", `{"serviceName":"f-scale","replicas":0}`); r.code != 202 {
		t.Fatalf("scale 0 = %d", r.code)
	}
	if r := sys(t, l, "GET", "/system/function/f-scale", ""); strings.Contains(r.body, "availableReplicas") {
		t.Fatalf("still available after scale to 0: %s", r.body)
	}
	if r := do(t, "GET", l.URL()+"/function/f-scale", "", nil); r.code != 200 {
		t.Fatalf("invoke after scale to zero = %d", r.code)
	}
	if r := sys(t, l, "POST", "/system/scale-function/nope", `{"serviceName":"nope","replicas":1}`); r.code != 404 {
		t.Fatalf("scale unknown = %d", r.code)
	}
}

func TestDeleteRemovesFunction(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-del"})
	if r := sys(t, l, "DELETE", "/system/functions", `{"functionName":"f-del"}`); r.code != 202 {
		t.Fatalf("delete = %d", r.code)
	}
	if r := sys(t, l, "DELETE", "/system/functions", `{"functionName":"f-del"}`); r.code != 404 {
		t.Fatalf("second delete = %d", r.code)
	}
	if r := do(t, "GET", l.URL()+"/function/f-del", "", nil); r.code != 404 {
		t.Fatalf("invoke deleted = %d", r.code)
	}
}

func TestLogsEndpointReturnsFunctionOutputAsNDJSON(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-logs"})
	do(t, "GET", l.URL()+"/function/f-logs", "", nil)
	msgs, err := l.Client().Logs(context.Background(), "f-logs", -1)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range msgs {
		if m.Name == "f-logs" && strings.Contains(m.Text, "golang-middleware handler listening") {
			found = true
		}
	}
	if !found {
		t.Fatalf("handler output not in logs: %+v", msgs)
	}
	if r := sys(t, l, "GET", "/system/logs", ""); r.code != 422 {
		t.Errorf("logs without name = %d", r.code)
	}
}

func TestLogsFollowStreamsLinesAsTheFunctionWritesThem(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-follow"})
	lines := make(chan api.LogMessage, 100)
	done := make(chan error, 1)
	go func() {
		done <- l.Client().FollowLogs(context.Background(), "f-follow", 1, func(m api.LogMessage) error {
			lines <- m
			return nil
		})
	}()
	next := func(what string) api.LogMessage {
		t.Helper()
		select {
		case m := <-lines:
			return m
		case <-time.After(10 * time.Second):
			t.Fatalf("no followed log line within 10s (waiting for %s)", what)
			return api.LogMessage{}
		}
	}
	if m := next("the first line"); m.Name != "f-follow" {
		t.Fatalf("first line %+v is not of f-follow", m)
	}
	for _, text := range []string{"written after the follow began", "and another"} {
		if r := do(t, "GET", l.URL()+"/function/f-follow/log?text="+url.QueryEscape(text), "", nil); r.code != 200 {
			t.Fatalf("log call = %d %s", r.code, r.body)
		}
		for {
			if m := next(text); m.Text == text {
				break
			}
		}
	}
	if r := sys(t, l, "DELETE", "/system/functions", `{"functionName":"f-follow"}`); r.code != 202 {
		t.Fatalf("delete = %d", r.code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow ended with %v, want the end of the stream", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow still open 10s after the function was removed")
	}
}

func TestCloseEndsFollowedLogsInsteadOfWaitingForThem(t *testing.T) {
	l, err := StartLocal(context.Background(), fastOptions(t.TempDir()))
	if err != nil {
		t.Fatalf("local gateway did not start: %v", err)
	}
	deploy(t, l, fnDef{name: "f-followed"})
	done := make(chan error, 1)
	first := make(chan struct{}, 1)
	go func() {
		done <- l.Client().FollowLogs(context.Background(), "f-followed", 0, func(api.LogMessage) error {
			select {
			case first <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no followed log line within 10s")
	}
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %s with a log follower attached; want it to end the stream, not wait for it", took)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower was not released by Close")
	}
}

func TestGoMaxProcsFollowsTheCPULimitLikeAContainer(t *testing.T) {
	tests := []struct {
		limit string
		def   int
		want  int
	}{
		{"", 1, 1},
		{"", 0, 0},
		{"500m", 0, 1},
		{"1", 4, 1},
		{"1.5", 1, 2},
		{"2000m", 1, 2},
		{" 3 ", 1, 3},
		{"0", 1, 1},
		{"-2", 1, 1},
		{"two", 1, 1},
		{"NaN", 1, 1},
		{"Inf", 1, 1},
	}
	for _, tt := range tests {
		if got := GoMaxProcs(tt.limit, tt.def); got != tt.want {
			t.Errorf("GoMaxProcs(%q, %d) = %d, want %d", tt.limit, tt.def, got, tt.want)
		}
	}
}

func TestFunctionsRunWithTheGoMaxProcsOfTheirCPULimit(t *testing.T) {
	l := sharedLocal(t) // FunctionProcs 1
	deploy(t, l,
		fnDef{name: "f-procs-default"},
		fnDef{name: "f-procs-limited", extra: "    limits:\n      cpu: 1500m\n"},
		fnDef{name: "f-procs-own", env: map[string]string{"GOMAXPROCS": "3"}, extra: "    limits:\n      cpu: 500m\n"},
	)
	for fn, want := range map[string]string{"f-procs-default": "1", "f-procs-limited": "2", "f-procs-own": "3"} {
		if r := do(t, "GET", l.URL()+"/function/"+fn+"/env?k=GOMAXPROCS", "", nil); r.code != 200 || r.body != want {
			t.Errorf("%s runs with GOMAXPROCS %q (%d), want %q", fn, r.body, r.code, want)
		}
	}
}

func TestMetricsExposeInvocationsAndQueue(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-metrics"})
	series := []string{
		`gateway_function_invocation_total{code="200",function_name="f-metrics.openfaas-fn"}`,
		`gateway_function_invocation_total{code="500",function_name="f-metrics.openfaas-fn"}`,
		`gateway_functions_seconds_count{code="200",function_name="f-metrics.openfaas-fn"}`,
	}
	before := scrape(t, l)
	do(t, "GET", l.URL()+"/function/f-metrics", "", nil)
	do(t, "GET", l.URL()+"/function/f-metrics/status/500", "", nil)
	m := scrape(t, l)
	for _, s := range series {
		if d := metricValue(m, s) - metricValue(before, s); d != 1 {
			t.Errorf("%s grew by %v, want 1", s, d)
		}
	}
	for _, want := range []string{"faasflow_queue_pending ", "faasflow_queue_ack_pending ", "faasflow_queue_inflight "} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRoutesAreTracedAndContextReachesFunction(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	o := fastOptions(t.TempDir())
	o.TracerProvider = tp
	l := startLocal(t, o)
	deploy(t, l, fnDef{name: "f-trace"})
	ctx, root := tp.Tracer("test").Start(context.Background(), "client")
	h := http.Header{}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
	r := do(t, "GET", l.URL()+"/function/f-trace/headers", "", map[string]string{"Traceparent": h.Get("Traceparent")})
	root.End()
	traceID := root.SpanContext().TraceID().String()
	if !strings.Contains(r.body, traceID) {
		t.Fatalf("function did not receive trace %s: %s", traceID, r.body)
	}
	found := false
	for _, s := range rec.Ended() {
		if s.Name() == "GET /function/f-trace" && s.SpanContext().TraceID().String() == traceID {
			found = true
		}
	}
	if !found {
		t.Fatal("no gateway span in the caller's trace")
	}
}

func scrape(t *testing.T, l *Local) string {
	t.Helper()
	return do(t, "GET", l.URL()+"/metrics", "", nil).body
}

// metricValue is the value of one exposition line's series (0 if absent).
func metricValue(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

func grep(s, sub string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}
