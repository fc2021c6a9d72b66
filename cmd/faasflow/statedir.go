package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// urlFile, in the state dir of a running `faasflow up`, holds its gateway
// URL, so that client commands find the gateway without --gateway.
const urlFile = "gateway.url"

// defaultStateDir is the state dir when neither --state-dir nor
// $FAASFLOW_STATE_DIR names one.
const defaultStateDir = ".faasflow"

// stateDir is flagValue, else $FAASFLOW_STATE_DIR, else ./.faasflow.
func stateDir(e env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if d := e.getenv("FAASFLOW_STATE_DIR"); d != "" {
		return d
	}
	return defaultStateDir
}

// runningURL returns the gateway URL that a running `faasflow up` wrote in
// dir, or "" when there is none: no URL file, or its pid file names no
// live process (an `up` that was killed).
func runningURL(dir string) string {
	u := readTrim(filepath.Join(dir, urlFile))
	if u == "" {
		return ""
	}
	pid, err := strconv.Atoi(readTrim(filepath.Join(dir, pidFile)))
	if err != nil || pid <= 0 || errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return ""
	}
	return strings.TrimRight(u, "/")
}

// writeRunning records pid and url in dir for `faasflow down` and the
// client commands; the returned func removes both.
func writeRunning(dir string, pid int, url string) (func(), error) {
	pidPath, urlPath := filepath.Join(dir, pidFile), filepath.Join(dir, urlFile)
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(urlPath, []byte(url+"\n"), 0o644); err != nil {
		os.Remove(pidPath)
		return nil, err
	}
	return func() { os.Remove(urlPath); os.Remove(pidPath) }, nil
}
