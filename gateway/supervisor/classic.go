package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// runClassic forks fprocess for one request: body on stdin, stdout returned.
func (i *Instance) runClassic(req *http.Request) (*http.Response, error) {
	args := strings.Fields(i.spec.FProcess)
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	cmd := exec.CommandContext(req.Context(), args[0], args[1:]...)
	cmd.Dir = i.workDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	env := i.env(0)
	for k, v := range req.Header {
		env = append(env, "Http_"+strings.ReplaceAll(k, "-", "_")+"="+strings.Join(v, ","))
	}
	env = append(env, "Http_Method="+req.Method, "Http_Query="+req.URL.RawQuery, "Http_Path="+req.URL.Path,
		"Http_ContentLength="+strconv.Itoa(len(body)))
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(body)
	var stdout bytes.Buffer
	lw := &lineWriter{r: i.logs, instance: "fprocess"}
	cmd.Stdout = &stdout
	cmd.Stderr = lw
	err = cmd.Run()
	lw.flush()
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return nil, ctxErr
	}
	h := http.Header{}
	ct := i.spec.Env["content_type"]
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	h.Set("Content-Type", ct)
	status := http.StatusOK
	out := stdout.Bytes()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("fprocess %s: %w", args[0], err)
		}
		status = http.StatusInternalServerError
		out = []byte(fmt.Sprintf("fprocess %q failed: %v\n", i.spec.FProcess, err))
	}
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(out)), ContentLength: int64(len(out)), Request: req,
	}, nil
}
