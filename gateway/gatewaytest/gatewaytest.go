package gatewaytest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/faas-flow/faas-flow/gateway/builder"
)

// Handler is the function's handler.go.
const Handler = `package function

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/stream" {
		// Echo the body while it arrives: the answer starts before the
		// request has been read to its end.
		w.Header().Set("Content-Type", "application/octet-stream")
		io.Copy(w, r.Body)
		return
	}
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	switch {
	case r.URL.Path == "/headers":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(r.Header)
	case strings.HasPrefix(r.URL.Path, "/status/"):
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if ra := q.Get("retry_after"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	case r.URL.Path == "/sleep":
		d, _ := time.ParseDuration(q.Get("d"))
		time.Sleep(d)
		fmt.Fprint(w, "slept")
	case r.URL.Path == "/spin":
		// Keep a core busy for d, deaf to the call's end: a runaway call.
		d, _ := time.ParseDuration(q.Get("d"))
		n := 0
		for end := time.Now().Add(d); time.Now().Before(end); {
			n++
		}
		fmt.Fprint(w, "spun ", n)
	case r.URL.Path == "/alloc":
		// Take mb MiB, 4 MiB every 20 ms, written so that it is resident,
		// and hold it for a second.
		mb, _ := strconv.Atoi(q.Get("mb"))
		held := [][]byte{{0}}
		for 4*(len(held)-1) < mb {
			b := make([]byte, 4<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			held = append(held, b)
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second)
		runtime.KeepAlive(held)
		fmt.Fprintf(w, "held %d MiB", 4*(len(held)-1))
	case r.URL.Path == "/crash":
		os.Exit(3)
	case r.URL.Path == "/crash-once":
		if _, err := os.Stat(q.Get("marker")); err != nil {
			os.WriteFile(q.Get("marker"), []byte("x"), 0o644)
			os.Exit(3)
		}
		fmt.Fprint(w, "survived")
	case r.URL.Path == "/fail-until":
		f, _ := os.OpenFile(q.Get("file"), os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o644)
		f.Write([]byte("x"))
		f.Close()
		b, _ := os.ReadFile(q.Get("file"))
		n, _ := strconv.Atoi(q.Get("n"))
		if len(b) < n {
			w.WriteHeader(500)
			fmt.Fprintf(w, "attempt %d fails", len(b))
			return
		}
		fmt.Fprintf(w, "ok after %d", len(b))
	case r.URL.Path == "/log":
		fmt.Fprintln(os.Stderr, q.Get("text"))
		fmt.Fprint(w, "logged")
	case r.URL.Path == "/env":
		fmt.Fprint(w, os.Getenv(q.Get("k")))
	case r.URL.Path == "/secret":
		b, err := os.ReadFile(os.Getenv("secret_mount_path") + q.Get("name"))
		if err != nil {
			http.Error(w, err.Error(), 404)
			return
		}
		w.Write(b)
	default:
		w.Header().Set("X-Echo-Method", r.Method)
		fmt.Fprintf(w, "%s %s?%s %s", r.Method, r.URL.Path, r.URL.RawQuery, body)
	}
}
`

// WriteHandler writes the handler folder into dir.
func WriteHandler(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module handler/function\n\ngo 1.24\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "handler.go"), []byte(Handler), 0o644)
}

// Repo returns the root of the faas-flow module containing the working dir.
func Repo() (string, error) {
	root, err := builder.FindSDKDir(".")
	if err != nil {
		return "", err
	}
	if root == "" {
		return "", fmt.Errorf("gatewaytest: not inside the faas-flow module")
	}
	return root, nil
}

// Build compiles the worker function into dir and returns the binary path.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := Repo()
	if err != nil {
		return "", err
	}
	handler := filepath.Join(dir, "handler")
	if err := WriteHandler(handler); err != nil {
		return "", err
	}
	return builder.Function(ctx, builder.Spec{
		Name: "worker", Lang: "golang-middleware", TemplateDir: filepath.Join(root, "template", "golang-middleware"),
		HandlerDir: handler, OutDir: filepath.Join(dir, "out"),
	})
}
