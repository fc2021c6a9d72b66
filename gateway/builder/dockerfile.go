package builder

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/faas-flow/faas-flow/gateway/stackfile"
)

// Step is one RUN instruction of a template's Dockerfile that works on the
// build context: the builder runs it with sh, as docker build would, so a
// local build checks what an image build checks (gofmt, the handler's
// tests) and fails the same way.
type Step struct {
	// Dir is the folder the step runs in, relative to the build context.
	Dir string
	// Command is the instruction's shell command.
	Command string
	// Env holds the build arguments the step sees (KEY=VALUE): the ARG
	// defaults of the Dockerfile, and the target platform.
	Env []string
}

// DockerfileSteps returns the RUN instructions of the stage that copies the
// build context in (COPY . .), from that copy to the end of the stage, in
// order: the steps that check and build the function. goos and goarch
// are the target platform (TARGETOS, TARGETARCH). Build arguments without a
// default are left out of Step.Env, so that the builder's environment
// applies, as when docker build is given no --build-arg.
func DockerfileSteps(dockerfile []byte, goos, goarch string) ([]Step, error) {
	platform := map[string]string{
		"TARGETOS": goos, "TARGETARCH": goarch,
		"TARGETPLATFORM": goos + "/" + goarch, "BUILDPLATFORM": goos + "/" + goarch,
	}
	var (
		steps   []Step
		global  = map[string]string{} // ARG defaults before the first FROM
		args    []string              // KEY=VALUE of the current stage
		staged  bool                  // a FROM was seen
		workdir = "/"
		root    string // where COPY . . put the context ("": not yet)
	)
	for _, ins := range instructions(dockerfile) {
		op, rest, _ := strings.Cut(ins, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(op) {
		case "FROM":
			if root != "" {
				return steps, nil // the stage that built the context ended
			}
			args, workdir, staged = nil, "/", true
		case "ARG":
			kv, ok := argValue(rest, platform, global)
			switch {
			case !ok:
			case !staged:
				k, v, _ := strings.Cut(kv, "=")
				global[k] = v
			default:
				args = append(args, kv)
			}
		case "WORKDIR":
			workdir = path.Join(workdir, rest)
			if strings.HasPrefix(rest, "/") {
				workdir = path.Clean(rest)
			}
		case "COPY":
			if root == "" && (rest == ". ." || rest == "./ ./" || rest == ". ./") {
				root = workdir
			}
		case "RUN":
			if root == "" {
				continue
			}
			dir, ok := strings.CutPrefix(workdir, root)
			if !ok {
				return nil, fmt.Errorf("%w: Dockerfile step %q runs in %s, outside the build context %s", ErrSpec, rest, workdir, root)
			}
			dir = strings.TrimPrefix(dir, "/")
			if dir == "" {
				dir = "."
			}
			steps = append(steps, Step{Dir: dir, Command: rest, Env: append([]string(nil), args...)})
		}
	}
	if root == "" {
		return nil, fmt.Errorf("%w: the Dockerfile never copies the build context in (COPY . .)", ErrSpec)
	}
	return steps, nil
}

// argValue returns KEY=VALUE for an ARG instruction: the target
// platform's value for the platform arguments, else its default, else the
// default it was given before the first FROM; ok is false for an argument
// with no value (the environment applies).
func argValue(arg string, platform, global map[string]string) (kv string, ok bool) {
	name, def, hasDef := strings.Cut(arg, "=")
	name = strings.TrimSpace(name)
	if v, isPlatform := platform[name]; isPlatform {
		return name + "=" + v, true
	}
	def = strings.Trim(strings.TrimSpace(def), `"'`)
	if !hasDef {
		def = global[name]
	}
	if def == "" {
		return "", false
	}
	return name + "=" + def, true
}

// instructions splits a Dockerfile into its instructions: comments and
// blank lines dropped, continuation lines (ending in a backslash) joined.
func instructions(dockerfile []byte) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(dockerfile))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if body, cont := strings.CutSuffix(line, "\\"); cont {
			cur.WriteString(strings.TrimSpace(body) + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// dockerfileBuild runs the steps of the context's Dockerfile (see
// DockerfileSteps) with sh in the context, then moves the binary they
// built (the template's fprocess, ./handler by default) to Output. A step
// that fails is a CompileError with the output of the steps.
func (s CompileSpec) dockerfileBuild(ctx context.Context, dockerfile []byte) error {
	steps, err := DockerfileSteps(dockerfile, goruntime.GOOS, goruntime.GOARCH)
	if err != nil {
		return fmt.Errorf("build %s: %w", s.Name, err)
	}
	var out bytes.Buffer
	w := s.output(&out)
	env := goEnv(s.ContextDir)
	for _, st := range steps {
		fmt.Fprintf(w, "RUN %s\n", st.Command)
		cmd := exec.CommandContext(ctx, "sh", "-c", st.Command)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = filepath.Join(s.ContextDir, st.Dir), append(env, st.Env...), w, w
		if err := cmd.Run(); err != nil {
			return &CompileError{Name: s.Name, Output: out.String(), Err: fmt.Errorf("Dockerfile step %q: %w", st.Command, err)}
		}
	}
	bin := filepath.Join(s.ContextDir, "handler")
	if t, err := stackfile.ReadTemplate(s.ContextDir); err == nil && t.FProcess != "" {
		bin = filepath.Join(s.ContextDir, strings.Fields(t.FProcess)[0])
	}
	if err := moveFile(bin, s.Output); err != nil {
		return &CompileError{Name: s.Name, Output: out.String(), Err: fmt.Errorf("the Dockerfile's steps built no %s: %w", filepath.Base(bin), err)}
	}
	return nil
}

// output is where a build's go commands write: buf, and the log if any.
func (s CompileSpec) output(buf *bytes.Buffer) io.Writer {
	if s.Log != nil {
		return io.MultiWriter(buf, prefixWriter(s.Log, "["+s.Name+"] "))
	}
	return buf
}

// moveFile renames from to to, copying when they are on different file
// systems; to is replaced whole or not at all.
func moveFile(from, to string) error {
	if err := os.Rename(from, to); err == nil {
		return nil
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}
