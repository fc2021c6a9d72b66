package builder

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/faas-flow/faas-flow/gateway/stackfile"
)

// SDKModule is the module path that gets a local replace directive.
const SDKModule = "github.com/faas-flow/faas-flow"

// Spec describes one function build.
type Spec struct {
	// Name of the function (used in messages and as the binary's name).
	Name string
	// Lang is the template name (informational when TemplateDir is set).
	Lang string
	// TemplateDir is template/<lang>/ (or the template/ folder holding <lang>/).
	TemplateDir string
	// HandlerDir is the user's handler folder.
	HandlerDir string
	// Copy lists extra paths copied into the handler folder of the context
	// (stack configuration.copy), relative to CopyBase.
	Copy     []string
	CopyBase string
	// SDKDir is a local checkout of github.com/faas-flow/faas-flow used in a
	// replace directive when the context requires that module ("" = none).
	SDKDir string
	// OutDir receives the build context (OutDir/context) and the binary
	// (OutDir/<Name>). It is created; an old context is removed first.
	OutDir string
	// CacheDir, when set, keeps binaries keyed by a hash of their inputs so an
	// unchanged function is not compiled twice; CacheMaxBytes bounds it (see
	// CompileSpec).
	CacheDir      string
	CacheMaxBytes int64
	// Log receives progress and compiler output (nil: discarded).
	Log io.Writer
}

// CompileError is returned when the Go toolchain fails; Output holds its
// combined output (the compiler messages).
type CompileError struct {
	Name   string
	Output string
	Err    error
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("build %s: %v\n%s", e.Name, e.Err, strings.TrimRight(e.Output, "\n"))
}

func (e *CompileError) Unwrap() error { return e.Err }

// ErrSpec is wrapped by errors about an unusable Spec.
var ErrSpec = errors.New("invalid build spec")

// Function shrink-wraps the build context and compiles it. It returns the
// path of the binary.
func Function(ctx context.Context, s Spec) (string, error) {
	dir, err := Shrinkwrap(s)
	if err != nil {
		return "", err
	}
	return Compile(ctx, CompileSpec{
		Name: s.Name, ContextDir: dir, SDKDir: s.SDKDir,
		Output: filepath.Join(s.OutDir, s.Name), CacheDir: s.CacheDir, CacheMaxBytes: s.CacheMaxBytes, Log: s.Log,
	})
}

// Shrinkwrap writes the build context to OutDir/context and returns its path.
func Shrinkwrap(s Spec) (string, error) {
	if s.Name == "" || s.OutDir == "" || s.TemplateDir == "" || s.HandlerDir == "" {
		return "", fmt.Errorf("%w: Name, TemplateDir, HandlerDir and OutDir are required", ErrSpec)
	}
	tdir, err := resolveTemplate(s.TemplateDir, s.Lang)
	if err != nil {
		return "", err
	}
	tmpl, err := stackfile.ReadTemplate(tdir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(s.HandlerDir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: handler folder %s of %s is not a directory", ErrSpec, s.HandlerDir, s.Name)
	}
	dst := filepath.Join(s.OutDir, "context")
	if err := os.RemoveAll(dst); err != nil {
		return "", fmt.Errorf("clean build context: %w", err)
	}
	logf(s.Log, "[%s] build context %s (template %s)\n", s.Name, dst, tdir)
	if err := copyTree(tdir, dst, nil); err != nil {
		return "", fmt.Errorf("copy template: %w", err)
	}
	hdst := filepath.Join(dst, filepath.FromSlash(tmpl.HandlerFolder))
	skip := func(rel string) bool { return rel == "build" || rel == "template" }
	if err := copyTree(s.HandlerDir, hdst, skip); err != nil {
		return "", fmt.Errorf("copy handler: %w", err)
	}
	for _, p := range s.Copy {
		src := p
		if !filepath.IsAbs(src) {
			src = filepath.Join(s.CopyBase, p)
		}
		rel := filepath.Clean(p)
		if filepath.IsAbs(rel) || rel == "." || strings.HasPrefix(rel, "..") {
			return "", fmt.Errorf("%w: copy path %q must be inside the project", ErrSpec, p)
		}
		if err := copyAny(src, filepath.Join(hdst, rel)); err != nil {
			return "", fmt.Errorf("copy %s: %w", p, err)
		}
	}
	return dst, nil
}

func resolveTemplate(dir, lang string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "template.yml")); err == nil {
		return dir, nil
	}
	if lang != "" {
		d := filepath.Join(dir, lang)
		if _, err := os.Stat(filepath.Join(d, "template.yml")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no template.yml in %s (lang %q)", ErrSpec, dir, lang)
}

// hasGenerate reports whether a top-level .go file of dir has a
// //go:generate directive.
func hasGenerate(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("\n//go:generate ")) {
			return true
		}
	}
	return false
}

// CompileSpec describes compiling an existing build context.
type CompileSpec struct {
	Name       string
	ContextDir string
	SDKDir     string
	Output     string
	// CacheDir keeps binaries by a hash of their inputs ("": no cache).
	// Adding one evicts the least recently used entries beyond
	// CacheMaxBytes (0: DefaultCacheMaxBytes).
	CacheDir      string
	CacheMaxBytes int64
	Log           io.Writer
}

// Compile builds the Go program at ContextDir into Output: it runs the
// steps of the context's Dockerfile (see DockerfileSteps), or go generate
// and go build when it has none. A context whose go.mod or function/go.mod
// requires SDKModule gets a replace to SDKDir, in place of any it has (the
// faas-flow template's copy of the SDK), and the SDK's go.sum lines.
func Compile(ctx context.Context, s CompileSpec) (string, error) {
	if s.ContextDir == "" || s.Output == "" {
		return "", fmt.Errorf("%w: ContextDir and Output are required", ErrSpec)
	}
	if s.Name == "" {
		s.Name = filepath.Base(s.Output)
	}
	usesSDK, err := prepareModules(s.ContextDir, s.SDKDir, s.Log, s.Name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(s.Output), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", s.Name, err)
	}
	var key string
	if s.CacheDir != "" {
		var hit bool
		if key, hit, err = s.fromCache(usesSDK); err != nil {
			return "", err
		}
		if hit {
			return s.Output, nil
		}
	}
	if err := s.goBuild(ctx); err != nil {
		return "", err
	}
	if key != "" {
		s.addToCache(key)
	}
	logf(s.Log, "[%s] built %s\n", s.Name, s.Output)
	return s.Output, nil
}

// goBuild runs the context's //go:generate directives, if it has any, then
// go build into Output (through Output.tmp, so Output is never half
// written). A failing go command is a CompileError with its output.
func (s CompileSpec) goBuild(ctx context.Context) error {
	if df, err := os.ReadFile(filepath.Join(s.ContextDir, "Dockerfile")); err == nil {
		return s.dockerfileBuild(ctx, df)
	}
	env := goEnv(s.ContextDir)
	var out bytes.Buffer
	w := s.output(&out)
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = s.ContextDir, env, w, w
		return cmd.Run()
	}
	// Like the templates' Dockerfiles: run the top-level package's
	// //go:generate directives (the faas-flow template wires handler store
	// functions this way) before building.
	if hasGenerate(s.ContextDir) {
		logf(s.Log, "[%s] go generate\n", s.Name)
		if err := run("generate", "."); err != nil {
			return &CompileError{Name: s.Name, Output: out.String(), Err: err}
		}
	}
	logf(s.Log, "[%s] go build\n", s.Name)
	tmpOut := s.Output + ".tmp"
	if err := run("build", "-trimpath", "-ldflags=-s -w", "-o", tmpOut, "."); err != nil {
		_ = os.Remove(tmpOut)
		return &CompileError{Name: s.Name, Output: out.String(), Err: err}
	}
	if err := os.Rename(tmpOut, s.Output); err != nil {
		return fmt.Errorf("build %s: %w", s.Name, err)
	}
	return nil
}

// goEnv is the go command's environment for the context at dir: CGO off,
// the local toolchain, and the context's go.work when it has one (else no
// workspace, and go.mod may be updated).
func goEnv(dir string) []string {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
		return append(env, "GOWORK="+filepath.Join(dir, "go.work"), "GOFLAGS=")
	}
	return append(env, "GOWORK=off", "GOFLAGS=-mod=mod")
}

// prepareModules adds the SDK replace directive and merges go.sum files. It
// reports whether the context requires the SDK module.
func prepareModules(dir, sdkDir string, log io.Writer, name string) (bool, error) {
	gomod := filepath.Join(dir, "go.mod")
	root, err := os.ReadFile(gomod)
	if err != nil {
		return false, fmt.Errorf("%w: build context %s has no go.mod: %v", ErrSpec, dir, err)
	}
	fnmod, _ := os.ReadFile(filepath.Join(dir, "function", "go.mod"))
	var sums [][]byte
	if b, err := os.ReadFile(filepath.Join(dir, "function", "go.sum")); err == nil {
		sums = append(sums, b)
	}
	needsSDK := mentions(root, SDKModule) || mentions(fnmod, SDKModule)
	if needsSDK && sdkDir != "" {
		// The local checkout wins over the copy a template carries, so that
		// what is built is what is being changed.
		abs, err := filepath.Abs(sdkDir)
		if err != nil {
			return needsSDK, fmt.Errorf("sdk dir: %w", err)
		}
		line := fmt.Sprintf("\nreplace %s => %s\n", SDKModule, abs)
		if err := os.WriteFile(gomod, append(withoutReplace(root, SDKModule), line...), 0o644); err != nil {
			return needsSDK, fmt.Errorf("edit %s: %w", gomod, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			if err := appendFile(filepath.Join(dir, "go.work"), line); err != nil {
				return needsSDK, err
			}
		}
		if b, err := os.ReadFile(filepath.Join(abs, "go.sum")); err == nil {
			sums = append(sums, b)
		}
		logf(log, "[%s] using local SDK %s\n", name, abs)
	}
	if len(sums) == 0 {
		return needsSDK, nil
	}
	return needsSDK, mergeSums(filepath.Join(dir, "go.sum"), sums)
}

func mentions(mod []byte, module string) bool {
	for _, l := range strings.Split(string(mod), "\n") {
		if strings.Contains(l, module+" ") || strings.HasSuffix(strings.TrimSpace(l), module) {
			if !strings.HasPrefix(strings.TrimSpace(l), "module ") && !strings.HasPrefix(strings.TrimSpace(l), "//") {
				return true
			}
		}
	}
	return false
}

// withoutReplace returns mod without its replace directives of module.
func withoutReplace(mod []byte, module string) []byte {
	var out []string
	inBlock := false
	for _, l := range strings.Split(string(mod), "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "replace ("):
			inBlock = true
		case inBlock && t == ")":
			inBlock = false
		case strings.HasPrefix(t, "replace "+module+" ") || strings.HasPrefix(t, "replace "+module+"=>"),
			inBlock && (strings.HasPrefix(t, module+" ") || strings.HasPrefix(t, module+"=>")):
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("edit %s: %w", path, err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return fmt.Errorf("edit %s: %w", path, err)
	}
	return f.Close()
}

func mergeSums(path string, extra [][]byte) error {
	have, _ := os.ReadFile(path)
	seen := map[string]bool{}
	var lines []string
	for _, b := range append([][]byte{have}, extra...) {
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || seen[l] {
				continue
			}
			seen[l] = true
			lines = append(lines, l)
		}
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// inputHash hashes the context tree, the SDK's Go sources and the toolchain.
func inputHash(ctxDir, sdkDir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if err := hashTree(h, ctxDir, false); err != nil {
		return "", err
	}
	if sdkDir != "" {
		fmt.Fprintf(h, "sdk %s\n", sdkDir)
		if err := hashTree(h, sdkDir, true); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashTree(h io.Writer, root string, goOnly bool) error {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			base := d.Name()
			if goOnly && (strings.HasPrefix(base, ".") || base == "testdata" || base == "node_modules") {
				return filepath.SkipDir
			}
			if goOnly {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // nested module: not part of the SDK build
				}
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if goOnly && !strings.HasSuffix(p, ".go") && d.Name() != "go.mod" && d.Name() != "go.sum" {
			return nil
		}
		if goOnly && strings.HasSuffix(p, "_test.go") {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, rel := range files {
		f, err := os.Open(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "file %s\n", filepath.ToSlash(rel))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// FindSDKDir walks up from start to the directory whose go.mod declares
// module SDKModule. It returns "" and no error when there is none.
func FindSDKDir(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		dir = filepath.Dir(dir)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(b) == SDKModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(t, "module ") {
			return strings.Trim(strings.TrimSpace(strings.TrimPrefix(t, "module ")), `"`)
		}
	}
	return ""
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// AddSDKReplace prepares a build context's modules as Compile does: a
// replace of SDKModule to sdkDir when the context requires it and has none,
// and merged go.sum files. It is idempotent.
func AddSDKReplace(contextDir, sdkDir string) error {
	_, err := prepareModules(contextDir, sdkDir, nil, filepath.Base(contextDir))
	return err
}
