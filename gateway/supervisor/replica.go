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
	// killing is set while the supervisor stops the process after a call
	// to it timed out (see Instance.StopRunaway), until it has exited.
	killing bool
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

func (r *replica) isKilling() bool {
	r.inst.mu.Lock()
	defer r.inst.mu.Unlock()
	return r.killing
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

// process is one run of a replica's binary.
type process struct {
	cmd *exec.Cmd
	lw  *lineWriter // carries its output to the function's log
	tr  *http.Transport
	cg  *processCgroup // nil unless a cgroup enforces its memory limit
}

// command is the replica's binary to run on port, in cgroup cg (nil: none).
func (r *replica) command(port int, cg *processCgroup) (*exec.Cmd, *lineWriter) {
	i := r.inst
	cmd := exec.Command(i.spec.Binary)
	cmd.Dir = i.workDir
	cmd.Env = i.env(port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cg != nil {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, cg.fd
	}
	lw := &lineWriter{r: i.logs}
	cmd.Stdout, cmd.Stderr = lw, lw
	return cmd, lw
}

// cgroup makes the cgroup of the replica's next process: nil when the
// function has no memory limit or no cgroup enforces limits here.
func (r *replica) cgroup() *processCgroup {
	i := r.inst
	if i.spec.MemoryLimit <= 0 || i.sup.cg == nil {
		return nil
	}
	cg, err := i.sup.cg.forProcess(i.spec.Name, r.index, i.spec.MemoryLimit)
	if err != nil {
		r.note("the watchdog enforces the memory limit: " + err.Error())
		return nil
	}
	return cg
}

// start launches the process on port and records it.
func (r *replica) start(port int) (*process, error) {
	i := r.inst
	cg := r.cgroup()
	cmd, lw := r.command(port, cg)
	i.mu.Lock()
	defer i.mu.Unlock()
	if r.stopped {
		cg.finish()
		return nil, ErrStopped
	}
	err := cmd.Start()
	if err != nil && cg != nil {
		// A kernel before Linux 5.7 cannot start a process into a
		// cgroup: the watchdog enforces the limit instead.
		cg.finish()
		cg = nil
		cmd, lw = r.command(port, nil)
		err = cmd.Start()
	}
	cg.started()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", i.spec.Binary, err)
	}
	tr := i.sup.newTransport()
	r.proc, r.pid, r.port, r.tr, r.killing = cmd.Process, cmd.Process.Pid, port, tr, false
	lw.mu.Lock()
	lw.instance = strconv.Itoa(cmd.Process.Pid)
	lw.mu.Unlock()
	return &process{cmd: cmd, lw: lw, tr: tr, cg: cg}, nil
}

// runOnce runs the process once, health-checking it (every 50 ms until it
// passes, then every HealthInterval), until it exits. Unless a cgroup
// does, the watchdog enforces the function's memory limit meanwhile.
func (r *replica) runOnce(port int) error {
	p, err := r.start(port)
	if err != nil {
		return err
	}
	defer p.tr.CloseIdleConnections()
	pid := p.cmd.Process.Pid
	r.note(fmt.Sprintf("started pid %d on 127.0.0.1:%d", pid, port))

	exited := make(chan error, 1)
	gone := make(chan struct{})
	go func() {
		err := p.cmd.Wait()
		close(gone)
		exited <- err
	}()
	if limit := r.inst.spec.MemoryLimit; limit > 0 && p.cg == nil {
		go watchMemory(pid, limit, r.inst.sup.opts.MemoryInterval, gone, func(line string) {
			r.note(line)
			r.inst.killed(KillMemory, line)
		})
	}
	healthURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/_/health"
	client := &http.Client{Transport: p.tr, Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			r.exitedOnce(p)
			return err
		case <-r.kick:
			tick.Reset(50 * time.Millisecond)
		case <-tick.C:
			if r.isKilling() {
				continue // out of the rotation until it has exited
			}
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

// exitedOnce records that process p has exited: the replica leaves the
// rotation, and a kill by the kernel for the memory limit is logged.
func (r *replica) exitedOnce(p *process) {
	r.setReady(false)
	p.tr.CloseIdleConnections()
	p.lw.flush()
	if line := p.cg.finish(); line != "" {
		r.note(line)
		r.inst.killed(KillMemory, line)
	}
	r.inst.mu.Lock()
	r.proc, r.pid = nil, 0
	r.inst.mu.Unlock()
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
