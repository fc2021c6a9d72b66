package supervisor

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// replica is one process of an HTTP function: started on a free 127.0.0.1
// port, health-checked, and restarted when it exits, until it is stopped.
// Its fields below the channels are guarded by the mutex of its Instance.
type replica struct {
	inst  *Instance
	index int // 1-based; names the replica in the function's log

	stopCh chan struct{}
	done   chan struct{} // closed when run has returned
	kick   chan struct{} // asks the health loop to probe now

	ready    bool
	port     int
	pid      int
	proc     *os.Process
	tr       *http.Transport // per process: its idle connections die with it
	inflight int             // calls sent to it whose answer is not closed yet
	stopped  bool
	// everReady is set once the replica passed a health check; crashes
	// counts its exits before that.
	everReady bool
	crashes   int
}

func newReplica(inst *Instance, index int) *replica {
	return &replica{
		inst: inst, index: index,
		stopCh: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1),
	}
}

// note writes a supervisor line about this replica to the function's log.
// The line names the replica only when the function has more than one, so
// that a function of one replica logs as it always did.
func (r *replica) note(text string) {
	i := r.inst
	i.mu.Lock()
	many := len(i.replicas) > 1 || r.index > 1
	i.mu.Unlock()
	if many {
		text = "replica " + strconv.Itoa(r.index) + ": " + text
	}
	i.logs.add("supervisor", text)
}

// setReady records whether the replica passes its health check.
func (r *replica) setReady(ok bool) {
	r.inst.mu.Lock()
	defer r.inst.mu.Unlock()
	r.inst.setReadyLocked(r, ok)
}

func (r *replica) isReady() bool {
	r.inst.mu.Lock()
	defer r.inst.mu.Unlock()
	return r.ready
}

func (r *replica) isStopped() bool {
	r.inst.mu.Lock()
	defer r.inst.mu.Unlock()
	return r.stopped
}

// refused takes the replica out of the rotation after a call could not
// connect to it, until its health check passes again (probed at once).
func (r *replica) refused() {
	r.setReady(false)
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run starts the process and restarts it, with exponential backoff, until
// the replica is stopped.
func (r *replica) run() {
	defer close(r.done)
	i := r.inst
	opts := &i.sup.opts
	backoff := opts.BackoffMin
	for {
		port, err := freePort()
		if err != nil {
			r.note("no free port: " + err.Error())
		} else {
			started := time.Now()
			err = r.runOnce(port)
			if r.isStopped() {
				return
			}
			if time.Since(started) > 30*time.Second {
				backoff = opts.BackoffMin
			}
			r.note(fmt.Sprintf("process exited (%v); restarting in %s", err, backoff))
			r.exited()
			opts.Logger.Warn("function process exited", "function", i.spec.Name, "replica", r.index, "err", err, "restart_in", backoff)
		}
		select {
		case <-r.stopCh:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, opts.BackoffMax)
		i.mu.Lock()
		i.restarts++
		i.mu.Unlock()
		if opts.OnRestart != nil {
			opts.OnRestart(i.spec.Name)
		}
	}
}

// start launches the process on port and records it; the returned writer
// carries its output to the function's log.
func (r *replica) start(port int) (*exec.Cmd, *lineWriter, *http.Transport, error) {
	i := r.inst
	cmd := exec.Command(i.spec.Binary)
	cmd.Dir = i.workDir
	cmd.Env = i.env(port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	lw := &lineWriter{r: i.logs}
	cmd.Stdout, cmd.Stderr = lw, lw
	i.mu.Lock()
	defer i.mu.Unlock()
	if r.stopped {
		return nil, nil, nil, ErrStopped
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("start %s: %w", i.spec.Binary, err)
	}
	tr := i.sup.newTransport()
	r.proc, r.pid, r.port, r.tr = cmd.Process, cmd.Process.Pid, port, tr
	lw.mu.Lock()
	lw.instance = strconv.Itoa(cmd.Process.Pid)
	lw.mu.Unlock()
	return cmd, lw, tr, nil
}

// runOnce runs the process once, health-checking it (every 50 ms until it
// passes, then every HealthInterval), until it exits.
func (r *replica) runOnce(port int) error {
	cmd, lw, tr, err := r.start(port)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	r.note(fmt.Sprintf("started pid %d on 127.0.0.1:%d", cmd.Process.Pid, port))

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	healthURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/_/health"
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			r.setReady(false)
			tr.CloseIdleConnections()
			lw.flush()
			r.inst.mu.Lock()
			r.proc, r.pid = nil, 0
			r.inst.mu.Unlock()
			return err
		case <-r.kick:
			tick.Reset(50 * time.Millisecond)
		case <-tick.C:
			ok := probe(client, healthURL)
			if ok != r.isReady() {
				r.setReady(ok)
				if !ok {
					r.note("health check failing")
				}
			}
			if ok {
				tick.Reset(r.inst.sup.opts.HealthInterval)
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

// stop terminates the process (SIGTERM to its process group, then SIGKILL
// after StopTimeout) and waits until the replica has stopped.
func (r *replica) stop() {
	i := r.inst
	i.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.stopCh)
	}
	i.setReadyLocked(r, false)
	p := r.proc
	i.mu.Unlock()
	if p != nil {
		_ = syscall.Kill(-p.Pid, syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(i.sup.opts.StopTimeout):
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
	<-r.done
}

// exited records an exit of the replica's process; one before its first
// passed health check counts as a crash at start. Waiters are woken.
func (r *replica) exited() {
	i := r.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	if !r.everReady {
		r.crashes++
	}
	i.broadcastLocked()
}
