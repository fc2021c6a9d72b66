package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Limits on what a reader must hold in mind at once. A function may be
// longer when its doc comment has a line starting with "Length:" that says
// why.
const (
	maxFileLines = 600
	maxFuncLines = 80
)

func TestFilesAndFunctionsAreSmall(t *testing.T) {
	for _, p := range loadModule(t, moduleRoot(t)) {
		for _, name := range p.files {
			path := filepath.Join(p.dir, name)
			for _, problem := range sizeProblems(t, path) {
				t.Errorf("%s/%s: %s", display(p.path), name, problem)
			}
		}
	}
}

// sizeProblems lists what is too long in one Go file.
func sizeProblems(t *testing.T, path string) []string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sizeProblemsOf(t, path, src)
}

func sizeProblemsOf(t *testing.T, path string, src []byte) []string {
	t.Helper()
	var out []string
	if n := strings.Count(string(src), "\n"); n > maxFileLines {
		out = append(out, fmt.Sprintf("%d lines (limit %d): split it by concern", n, maxFileLines))
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
		if n > maxFuncLines && !hasLengthReason(fd.Doc) {
			out = append(out, fmt.Sprintf("func %s is %d lines (limit %d): shorten it, or say why in a \"Length:\" line of its doc comment", fd.Name.Name, n, maxFuncLines))
		}
	}
	return out
}

func hasLengthReason(doc *ast.CommentGroup) bool {
	if doc == nil {
		return false
	}
	for _, line := range strings.Split(doc.Text(), "\n") {
		if r, ok := strings.CutPrefix(line, "Length:"); ok && strings.TrimSpace(r) != "" {
			return true
		}
	}
	return false
}

func TestSizeLimitsCatchLongFilesAndFunctions(t *testing.T) {
	long := "package x\n\nfunc f() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines) + "}\n"
	excused := "package x\n\n// f does one long thing.\n//\n// Length: one table, read top to bottom.\nfunc f() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines) + "}\n"
	big := "package x\n" + strings.Repeat("\n", maxFileLines)
	cases := []struct {
		name, src string
		want      int
	}{
		{"a function over the limit", long, 1},
		{"a long function with its reason", excused, 0},
		{"a file over the limit", big, 1},
		{"a short file", "package x\n\nfunc f() {}\n", 0},
	}
	for _, tc := range cases {
		if got := sizeProblemsOf(t, "x.go", []byte(tc.src)); len(got) != tc.want {
			t.Errorf("%s: %d problems %v, want %d", tc.name, len(got), got, tc.want)
		}
	}
}
