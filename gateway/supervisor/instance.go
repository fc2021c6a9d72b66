package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Instance is one supervised function.
type Instance struct {
	sup     *Supervisor
	spec    Spec
	logs    *ring
	mount   string
	workDir string
	timeout time.Duration
	classic bool

	mu       sync.Mutex
	ready    bool
	port     int
	pid      int
	restarts int
	readyCh  chan struct{} // closed while ready
	proc     *os.Process
	stopped  bool
	stopCh   chan struct{}
	done     chan struct{}
	kick     chan struct{}   // asks the health loop to probe now
	tr       *http.Transport // per process: its idle connections die with it
}

// Name is the function's name.
func (i *Instance) Name() string { return i.spec.Name }

// Timeout is the function's exec timeout.
func (i *Instance) Timeout() time.Duration { return i.timeout }

// Ready reports whether the function can serve requests now.
func (i *Instance) Ready() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.ready
}

// Restarts counts restarts after crashes.
func (i *Instance) Restarts() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.restarts
}

// PID is the current process id (0 when not running or classic).
func (i *Instance) PID() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.pid
}

func (i *Instance) setReady(r bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if r == i.ready {
		return
	}
	i.ready = r
	if r {
		close(i.readyCh)
	} else {
		i.readyCh = make(chan struct{})
	}
}

// WaitReady blocks until the function is ready, ctx ends or the
// supervisor's ReadyTimeout passes.
func (i *Instance) WaitReady(ctx context.Context) (port int, err error) {
	t := time.NewTimer(i.sup.opts.ReadyTimeout)
	defer t.Stop()
	for {
		i.mu.Lock()
		if i.stopped {
			i.mu.Unlock()
			return 0, fmt.Errorf("%w: %s", ErrStopped, i.spec.Name)
		}
		if i.ready {
			p := i.port
			i.mu.Unlock()
			return p, nil
		}
		ch := i.readyCh
		i.mu.Unlock()
		select {
		case <-ch:
		case <-i.stopCh:
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %s: %w", ErrNotReady, i.spec.Name, ctx.Err())
		case <-t.C:
			return 0, fmt.Errorf("%w: %s did not pass its health check within %s", ErrNotReady, i.spec.Name, i.sup.opts.ReadyTimeout)
		}
	}
}

// RoundTrip sends req to the function. For HTTP functions req.URL's path and
// query are kept and its host is replaced; classic functions fork fprocess.
// Transport errors (the process died mid-request) are returned as errors.
func (i *Instance) RoundTrip(req *http.Request) (*http.Response, error) {
	if i.classic {
		return i.runClassic(req)
	}
	port, err := i.WaitReady(req.Context())
	if err != nil {
		return nil, err
	}
	for {
		i.mu.Lock()
		tr := i.tr
		i.mu.Unlock()
		resp, err := tr.RoundTrip(i.target(req, port))
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || op.Op != "dial" {
			return resp, err
		}
		// Nothing was sent: the process is gone or restarting. Mark it
		// unready, let the health loop confirm, and retry once it is back.
		i.setReady(false)
		select {
		case i.kick <- struct{}{}:
		default:
		}
		if port, err = i.WaitReady(req.Context()); err != nil {
			return nil, err
		}
	}
}

func (i *Instance) target(req *http.Request, port int) *http.Request {
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme = "http"
	u.Host = "127.0.0.1:" + strconv.Itoa(port)
	out.URL = &u
	out.Host = u.Host
	out.RequestURI = ""
	return out
}

// Logs returns the last n lines of output.
func (i *Instance) Logs(n int) []LogLine { return i.logs.tail(n) }

func (i *Instance) env(port int) []string {
	env := os.Environ()
	keys := make([]string, 0, len(i.spec.Env))
	for k := range i.spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if _, ok := i.spec.Env["healthcheck_interval"]; !ok {
		env = append(env, "healthcheck_interval=0s") // the gateway stops routing before SIGTERM
	}
	for _, k := range keys {
		env = append(env, k+"="+i.spec.Env[k])
	}
	env = append(env, "secret_mount_path="+i.mount+string(os.PathSeparator))
	if port > 0 {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		env = append(env, "listen_addr="+addr, "upstream_url=http://"+addr, "mode=http")
	}
	if i.spec.FProcess != "" {
		env = append(env, "fprocess="+i.spec.FProcess)
	}
	return env
}

// run starts the process and restarts it until stopped.
func (i *Instance) run() {
	defer close(i.done)
	backoff := i.sup.opts.BackoffMin
	for {
		port, err := freePort()
		if err != nil {
			i.logs.add("supervisor", "no free port: "+err.Error())
		} else {
			started := time.Now()
			err = i.runOnce(port)
			if i.isStopped() {
				return
			}
			if time.Since(started) > 30*time.Second {
				backoff = i.sup.opts.BackoffMin
			}
			i.logs.add("supervisor", fmt.Sprintf("process exited (%v); restarting in %s", err, backoff))
			i.sup.opts.Logger.Warn("function process exited", "function", i.spec.Name, "err", err, "restart_in", backoff)
		}
		select {
		case <-i.stopCh:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, i.sup.opts.BackoffMax)
		i.mu.Lock()
		i.restarts++
		i.mu.Unlock()
		if i.sup.opts.OnRestart != nil {
			i.sup.opts.OnRestart(i.spec.Name)
		}
	}
}

func (i *Instance) isStopped() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.stopped
}

func (i *Instance) runOnce(port int) error {
	cmd := exec.Command(i.spec.Binary)
	cmd.Dir = i.workDir
	cmd.Env = i.env(port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	lw := &lineWriter{r: i.logs}
	cmd.Stdout, cmd.Stderr = lw, lw
	i.mu.Lock()
	if i.stopped {
		i.mu.Unlock()
		return ErrStopped
	}
	if err := cmd.Start(); err != nil {
		i.mu.Unlock()
		return fmt.Errorf("start %s: %w", i.spec.Binary, err)
	}
	i.proc = cmd.Process
	i.pid = cmd.Process.Pid
	i.port = port
	tr := i.sup.newTransport()
	i.tr = tr
	i.mu.Unlock()
	defer tr.CloseIdleConnections()
	lw.mu.Lock()
	lw.instance = strconv.Itoa(cmd.Process.Pid)
	lw.mu.Unlock()
	i.logs.add("supervisor", fmt.Sprintf("started pid %d on 127.0.0.1:%d", cmd.Process.Pid, port))

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	healthURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/_/health"
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			i.setReady(false)
			tr.CloseIdleConnections()
			lw.flush()
			i.mu.Lock()
			i.proc, i.pid = nil, 0
			i.mu.Unlock()
			return err
		case <-i.kick:
			tick.Reset(50 * time.Millisecond)
		case <-tick.C:
			ok := probe(client, healthURL)
			if ok != i.Ready() {
				i.setReady(ok)
				if !ok {
					i.logs.add("supervisor", "health check failing")
				}
			}
			if ok {
				tick.Reset(i.sup.opts.HealthInterval)
			} else {
				tick.Reset(50 * time.Millisecond)
			}
		}
	}
}

func probe(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop terminates the process (SIGTERM, then SIGKILL after StopTimeout).
func (i *Instance) stop(closeLogs bool) {
	i.mu.Lock()
	if !i.stopped {
		i.stopped = true
		close(i.stopCh)
	}
	p := i.proc
	i.mu.Unlock()
	i.setReady(false)
	if p != nil {
		_ = syscall.Kill(-p.Pid, syscall.SIGTERM)
		select {
		case <-i.done:
		case <-time.After(i.sup.opts.StopTimeout):
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
	<-i.done
	if closeLogs {
		i.logs.close()
	}
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
