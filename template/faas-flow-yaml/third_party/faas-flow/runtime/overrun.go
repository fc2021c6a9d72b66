package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/engine"
)

// ErrOverrun is returned by Serve (and Run) after the server drained
// because the code of a node kept running longer than overrun_exit_grace
// past its timeout: a goroutine cannot be stopped, so the process exits
// for its supervisor to restart it, which frees what that code holds.
var ErrOverrun = errors.New("the code of a node kept running past its timeout")

// overrunError names the code that made the process exit.
func overrunError(ov engine.Overrun) error {
	return fmt.Errorf("%w: %s (request %s) still running after its timeout and overrun_exit_grace", ErrOverrun, ov.Where, ov.RequestID)
}

// onOverrun is the engine's Options.OnOverrun: the code of a node is still
// running past its timeout. The node has failed (or retries) without it;
// if the code has not returned overrun_exit_grace later, Serve is told to
// drain, which lets the failure's record and the other requests in flight
// finish first, and to return ErrOverrun.
func (s *Server) onOverrun(ov engine.Overrun) {
	grace := s.cfg.OverrunGrace
	s.log.Warn("the code of a node is still running after its timeout; the process exits if it still is after overrun_exit_grace",
		"request_id", ov.RequestID, "node", ov.Node, "code", ov.Where, "overrun_exit_grace", grace)
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-ov.Done:
			s.log.Info("the code of a node returned late, within overrun_exit_grace; its result was dropped",
				"request_id", ov.RequestID, "node", ov.Node, "code", ov.Where)
		case <-t.C:
			s.log.Error("the code of a node is still running past its timeout and overrun_exit_grace: draining and exiting for the process to be restarted",
				"request_id", ov.RequestID, "node", ov.Node, "code", ov.Where, "overrun_exit_grace", grace)
			select {
			case s.overrun <- ov:
			default: // Serve is told already
			}
		}
	}()
}
