package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func runDown(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("down", e, "down [--state-dir DIR]")
	dirFlag := fs.String("state-dir", "", "`DIR` of the running faasflow up (default $FAASFLOW_STATE_DIR, else .faasflow)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for it to stop")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	stateDir := stateDir(e, *dirFlag)
	pidPath := filepath.Join(stateDir, pidFile)
	b, err := os.ReadFile(pidPath)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no faasflow up is running for state dir %s (no %s)", stateDir, pidPath)
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("%s holds no pid: %q", pidPath, b)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			os.Remove(pidPath)
			os.Remove(filepath.Join(stateDir, urlFile))
			return fmt.Errorf("faasflow up (pid %d) is not running any more; removed the stale %s", pid, pidPath)
		}
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	fmt.Fprintf(e.stderr, "stopping faasflow up (pid %d)…\n", pid)
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(pidPath); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(e.stderr, "stopped")
			return nil
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.Remove(pidPath)
			os.Remove(filepath.Join(stateDir, urlFile))
			fmt.Fprintln(e.stderr, "stopped")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("faasflow up (pid %d) did not stop within %s", pid, *timeout)
}
