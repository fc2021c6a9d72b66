package templatetest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/runtime"
)

// The tests in this file build declarative flow functions from
// template/faas-flow-yaml as its Dockerfile does, in the build context
// alone, and run them behind a fake gateway on a real etcd.

// buildYAMLTemplate shrink-wraps template/faas-flow-yaml with handlerDir
// and runs the Dockerfile's build steps. It returns the binary, or the
// output of the step that failed.
func buildYAMLTemplate(t *testing.T, handlerDir string) (bin string, failed string) {
	t.Helper()
	ctxDir, failed := runDockerfileSteps(t, "faas-flow-yaml", filepath.Join(repoRoot(t), "template"), handlerDir)
	if failed != "" {
		return "", failed
	}
	return filepath.Join(ctxDir, "handler"), ""
}

func TestYAMLTemplateBuildsAndRunsTheFlowFile(t *testing.T) {
	bin, failed := buildYAMLTemplate(t, filepath.Join("testdata", "yamlflow"))
	if failed != "" {
		t.Fatal(failed)
	}
	gw := fakegateway.New(t, "greeting")
	gw.Function("upper", func(_ *http.Request, body []byte) (int, []byte) { return 200, bytes.ToUpper(body) })
	gw.Function("reverse", func(_ *http.Request, body []byte) (int, []byte) {
		r := []rune(string(body))
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return 200, []byte(string(r))
	})
	p := startBinary(t, bin, map[string]string{
		"flow_name":            "greeting",
		"gateway":              gw.URL(),
		"secret_mount_path":    fakegateway.SecretDir(t, map[string]string{"faasflow-hmac-secret": "yaml-secret-key"}),
		"state_store":          "etcd",
		"etcd_endpoints":       strings.Join(testenv.Etcd(t), ","),
		"etcd_key_prefix":      "yaml-" + fmt.Sprint(time.Now().UnixNano()) + "/",
		"data_store":           "local",
		"data_dir":             t.TempDir(),
		"healthcheck_interval": "0",
		"control_auth":         "none",
	})
	gw.SetFlowURL(p.base)
	ok := fakegateway.Do(t, http.MethodPost, p.base+"/?wait=15s", []byte("hello world"))
	if ok.Status != 200 || string(ok.Body) != `"known greeting"` {
		t.Fatalf("%d %q\n%s", ok.Status, ok.Body, p.logs())
	}
	bad := fakegateway.Do(t, http.MethodPost, p.base+"/", []byte("good night"))
	id, _ := bad.JSON(t)["request_id"].(string)
	st := fakegateway.WaitState(t, p.base, id, "failed")
	if msg := fmt.Sprint(st["error"]); !strings.Contains(msg, "Greeting.Unknown: not a greeting this flow knows") {
		t.Fatalf("the failed request's error: %v", st)
	}
	ex := fakegateway.Do(t, http.MethodGet, p.base+"/?export-dag=true", nil)
	if ex.Status != 200 || ex.JSON(t)["start-node"] != "Both" {
		t.Fatalf("export-dag %d %s", ex.Status, ex.Body)
	}
}

func TestYAMLTemplateRefusesABadFlowFileAtBuild(t *testing.T) {
	_, failed := buildYAMLTemplate(t, filepath.Join("testdata", "yamlcycle"))
	want := `flow.yaml:9:11: States.Again.Next: goes back to state "Ask"`
	if !strings.Contains(failed, want) {
		t.Fatalf("the build of a flow with a cycle did not fail with %q:\n%s", want, failed)
	}
}

func TestYAMLTemplateFollowsTheFlowTemplate(t *testing.T) {
	root := repoRoot(t)
	read := func(template, name string) string {
		b, err := os.ReadFile(filepath.Join(root, "template", template, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// The runtime's environment and the image are the flow template's:
	// the two Dockerfiles share their last stage.
	envOf := func(df string) string { return df[strings.LastIndex(df, "FROM "):] }
	df := read("faas-flow-yaml", "Dockerfile")
	if envOf(df) != envOf(read("faas-flow", "Dockerfile")) {
		t.Errorf("the image stage of template/faas-flow-yaml/Dockerfile differs from template/faas-flow's:\n%s", envOf(df))
	}
	for _, want := range []string{"RUN CGO_ENABLED=${CGO_ENABLED} go test -mod=mod .", "go build -mod=mod -trimpath", "ARG WATCHDOG_VERSION="} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for file, wants := range map[string][]string{
		"template.yml": {"language: faas-flow-yaml", "fprocess: ./handler", "faasflow-hmac-secret"},
		"go.mod":       {"github.com/faas-flow/faas-flow " + runtime.SDKVersion, "=> ./third_party/faas-flow"},
		"main.go":      {"//go:embed function", "flowfile.LoadFS(", "runtime.Run(context.Background(), def.Define)"},
	} {
		for _, want := range wants {
			if !strings.Contains(read("faas-flow-yaml", file), want) {
				t.Errorf("%s lacks %q", file, want)
			}
		}
	}
}
