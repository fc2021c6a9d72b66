package templatetest_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The faas-flow templates carry a copy of this module's packages that a
// flow function builds from (template/<lang>/third_party/faas-flow, with a
// replace directive in the template's go.mod), so that a build context
// needs nothing of this module from the module proxy. The test below keeps
// each copy identical to the repository; -update rewrites them.

var updateSDK = flag.Bool("update", false, "rewrite the templates' copies of the SDK from the repository")

// sdkCopy is the copy one template carries: the packages a flow function,
// its tests and its custom stores may import (roots), and what they import
// of this module.
type sdkCopy struct {
	template string
	roots    []string
}

// sdkCopies lists the templates that carry a copy.
func sdkCopies() []sdkCopy {
	roots := []string{"./runtime/...", "./sdk/...", "./statestore/...", "./datastore/..."}
	return []sdkCopy{
		{template: "faas-flow", roots: roots},
		// The declarative template also runs the flow file's parser.
		{template: "faas-flow-yaml", roots: append(append([]string(nil), roots...), "./flowfile")},
	}
}

// dir is where the template keeps the copy, relative to the repository.
func (c sdkCopy) dir() string {
	return filepath.Join("template", c.template, "third_party", "faas-flow")
}

const sdkCopyReadme = `# A copy of github.com/faas-flow/faas-flow for the build

This folder holds the packages of github.com/faas-flow/faas-flow that a flow
function builds from, copied from the repository, with its go.mod and go.sum.
The template's go.mod replaces the module with this folder, so a build
context (faas-cli build --shrinkwrap, faas-cli up with a remote builder, or
the template's Dockerfile) needs nothing of the module from the module proxy.

Do not edit it: it is rewritten from the repository by
go test ./internal/templatetest -run TestTemplateCarriesACopyOfTheSDK -update
and that test fails when the copy and the repository differ.
`

// sdkCopyWant returns the files the copy of roots must hold, by path
// relative to the copy, and the template's go.sum.
func sdkCopyWant(t *testing.T, root string, roots []string) map[string][]byte {
	t.Helper()
	args := append([]string{"list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "github.com/faas-flow/faas-flow"}}{{.Dir}}{{end}}{{end}}`}, roots...)
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = root, goEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	want := map[string][]byte{"README.md": []byte(sdkCopyReadme)}
	for _, name := range []string{"go.mod", "go.sum"} {
		want[name] = readFile(t, filepath.Join(root, name))
	}
	for _, dir := range strings.Fields(string(out)) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			rel, err := filepath.Rel(root, filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			want[filepath.ToSlash(rel)] = readFile(t, filepath.Join(dir, e.Name()))
		}
	}
	return want
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sdkCopyHave returns the files the copy holds.
func sdkCopyHave(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	have := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err == nil {
			have[filepath.ToSlash(rel)] = readFile(t, path)
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return have
}

func TestTemplateCarriesACopyOfTheSDK(t *testing.T) {
	root := repoRoot(t)
	for _, c := range sdkCopies() {
		t.Run(c.template, func(t *testing.T) { checkSDKCopy(t, root, c) })
	}
}

// checkSDKCopy compares the copy c with the repository (and rewrites it
// with -update).
func checkSDKCopy(t *testing.T, root string, c sdkCopy) {
	dir := filepath.Join(root, c.dir())
	want := sdkCopyWant(t, root, c.roots)
	templateSum := filepath.Join(root, "template", c.template, "go.sum")
	if *updateSDK {
		writeSDKCopy(t, dir, want)
		if err := os.WriteFile(templateSum, want["go.sum"], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have := sdkCopyHave(t, dir)
	var diff []string
	for name, b := range want {
		switch h, ok := have[name]; {
		case !ok:
			diff = append(diff, "missing "+name)
		case !bytes.Equal(h, b):
			diff = append(diff, "differs "+name)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			diff = append(diff, "extra "+name)
		}
	}
	if b, err := os.ReadFile(templateSum); err != nil || !bytes.Equal(b, want["go.sum"]) {
		diff = append(diff, "template/"+c.template+"/go.sum differs from go.sum")
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("the template's copy of the SDK (%s) is out of date; run\n\tgo test ./internal/templatetest -run TestTemplateCarriesACopyOfTheSDK -update\n%s",
			c.dir(), strings.Join(diff, "\n"))
	}
}

// writeSDKCopy replaces the copy in dir with want.
func writeSDKCopy(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
