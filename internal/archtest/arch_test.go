package archtest

import (
	"flag"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/faas-flow/faas-flow"

var update = flag.Bool("update", false, "rewrite the package graph in docs/architecture.md")

// pkg is one package of the module, as the go tool sees it on this
// platform.
type pkg struct {
	path    string // import path relative to the module ("" for the root)
	dir     string
	name    string
	imports []string // non-test imports
	tests   []string // imports of the package's tests (in- and external)
	files   []string // non-test .go files
	hasDoc  bool
}

// loadModule returns every package of the module under root, skipping
// testdata and nested modules (the templates, the tools).
func loadModule(t *testing.T, root string) []*pkg {
	t.Helper()
	var out []*pkg
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (name == "testdata" || strings.HasPrefix(name, ".")) {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a module of its own
			}
		}
		bp, err := build.Default.ImportDir(path, 0)
		if err != nil {
			var none *build.NoGoError
			if errorsAs(err, &none) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		p := &pkg{path: filepath.ToSlash(rel), dir: path, name: bp.Name, imports: bp.Imports, files: bp.GoFiles}
		if p.path == "." {
			p.path = ""
		}
		p.tests = append(append([]string(nil), bp.TestImports...), bp.XTestImports...)
		p.hasDoc = slices.Contains(bp.GoFiles, "doc.go")
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d packages under %s: the walk is broken", len(out), root)
	}
	return out
}

func errorsAs(err error, target **build.NoGoError) bool {
	e, ok := err.(*build.NoGoError)
	if ok {
		*target = e
	}
	return ok
}

// moduleRoot is the directory holding the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module "+module+"\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod of " + module + " not found above the test's directory")
		}
		dir = parent
	}
}

// local returns the module-relative path of an import of the module, and
// whether it is one.
func local(imp string) (string, bool) {
	if imp == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(imp, module+"/")
	return rel, ok
}

// under reports whether the module-relative path p is dir or inside it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// std reports whether an import path is of the standard library.
func std(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}
