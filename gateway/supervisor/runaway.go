package supervisor

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// CallError is how a call sent to a replica failed (RoundTrip's error, or
// the error reading its answer's body): it names the process that had the
// call, so that a caller that gives up on the call can have that process
// stopped (Instance.StopRunaway). Its message is the underlying error's.
type CallError struct {
	Function string
	Replica  int // 1-based
	PID      int
	Err      error
}

func (e *CallError) Error() string { return e.Err.Error() }

func (e *CallError) Unwrap() error { return e.Err }

// StopRunaway stops the process named by err (a *CallError in its chain)
// after a call to it ran past the function's exec timeout, as a container
// runtime stops a function whose watchdog's hard timeout passed: the
// replica leaves the rotation at once, its process group gets SIGTERM and,
// KillGrace later, SIGKILL; the replica is then restarted as after a
// crash. Other calls in flight on that process fail with it; the other
// replicas go on undisturbed. It returns at once, reporting whether it
// began to stop a process: false when err names none, or when that process
// has exited or is being stopped already.
func (i *Instance) StopRunaway(err error) bool {
	var ce *CallError
	if !errors.As(err, &ce) || ce.PID <= 0 {
		return false
	}
	i.mu.Lock()
	var r *replica
	for _, x := range i.replicas {
		if x.index == ce.Replica && x.pid == ce.PID && !x.killing && !x.stopped {
			r = x
		}
	}
	if r == nil {
		i.mu.Unlock()
		return false
	}
	r.killing = true
	proc := r.proc
	i.setReadyLocked(r, false)
	i.mu.Unlock()
	grace := i.sup.opts.KillGrace
	line := fmt.Sprintf("killed: a call ran past the exec timeout (%s); stopping pid %d (SIGTERM, then SIGKILL after %s)", i.timeout, ce.PID, grace)
	r.note(line)
	i.killed(KillTimeout, line)
	_ = syscall.Kill(-ce.PID, syscall.SIGTERM)
	time.AfterFunc(grace, func() { i.killGroup(r, proc, ce.PID) })
	return true
}

// killGroup sends SIGKILL to the process group pgid, led by proc, a
// process of replica r, unless the replica has a new process by that id:
// the group outlives its leader while a child of it runs, and its id is
// not given to a new process meanwhile, but once it is empty the
// supervisor may start the next process of r under the same id.
func (i *Instance) killGroup(r *replica, proc *os.Process, pgid int) {
	i.mu.Lock()
	reused := r.proc != nil && r.proc != proc && r.pid == pgid
	i.mu.Unlock()
	if !reused {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// killed reports a kill of one of the function's processes, for reason
// (KillMemory or KillTimeout), to the gateway's log, with the line the
// function's log got, and to OnKill.
func (i *Instance) killed(reason, line string) {
	i.sup.opts.Logger.Warn("function process killed", "function", i.spec.Name, "reason", reason, "detail", line)
	if f := i.sup.opts.OnKill; f != nil {
		f(i.spec.Name, reason)
	}
}
