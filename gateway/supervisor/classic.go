package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// runLimited runs cmd; with a memory limit, the watchdog kills it (and its
// children) past the limit.
func (i *Instance) runLimited(cmd *exec.Cmd) error {
	limit := i.spec.MemoryLimit
	if limit <= 0 {
		return cmd.Run()
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	gone := make(chan struct{})
	defer close(gone)
	go watchMemory(cmd.Process.Pid, limit, i.sup.opts.MemoryInterval, gone, func(line string) {
		line = "fprocess pid " + strconv.Itoa(cmd.Process.Pid) + ": " + line
		i.logs.add("supervisor", line)
		i.killed(KillMemory, line)
	})
	return cmd.Wait()
}

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
	err = i.runLimited(cmd)
	lw.flush()
	if ctxErr := req.Context().Err(); ctxErr != nil {
		if err != nil && errors.Is(ctxErr, context.DeadlineExceeded) {
			// The call's deadline, the exec timeout, killed the process.
			line := fmt.Sprintf("fprocess pid %d: killed: the call ran past its deadline (exec timeout %s)", cmd.Process.Pid, i.timeout)
			i.logs.add("supervisor", line)
			i.killed(KillTimeout, line)
		}
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
