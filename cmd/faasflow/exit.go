package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
)

// Exit codes a script can rely on (docs/gateway.md, "Exit codes").
const (
	exitOK          = 0 // the command did what it was asked
	exitFailed      = 1 // the operation failed, or the gateway or function refused it
	exitUsage       = 2 // the command line is wrong: unknown command, bad flag or arguments
	exitUnreachable = 3 // the gateway could not be reached (nothing listens, unknown host)
)

// usageError is a wrong command line; run exits with exitUsage.
type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// exitCode maps the error a command returned to the process's exit code.
func exitCode(err error) int {
	var u *usageError
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &dns), errors.As(err, &op) && op.Op == "dial":
		return exitUnreachable
	}
	return exitFailed
}
