package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// env is what a subcommand may use from the process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// setProcs sets the process's GOMAXPROCS (nil: left alone, as in
	// tests that run commands in-process).
	setProcs func(int)
	// setGCPercent sets the process's GC percent (nil: left alone).
	setGCPercent func(int)
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// commands lists the subcommands; add new ones here.
func commands() map[string]command {
	return map[string]command{
		"up":       {"start the local gateway, NATS JetStream and etcd in the foreground", runUp},
		"down":     {"stop a running `faasflow up` (via its pid file)", runDown},
		"deploy":   {"build and deploy the functions of a stack file", runDeploy},
		"invoke":   {"invoke a function (stdin is the body)", runInvoke},
		"state":    {"show the state of a flow request", runState},
		"requests": {"list a flow's requests, newest first (filter by state and start time)", runRequests},
		"pause":    {"pause a flow request", requestControl("pause")},
		"resume":   {"resume a paused flow request", requestControl("resume")},
		"stop":     {"stop a flow request for good", requestControl("stop")},
		"redrive":  {"restart a failed or stopped flow request from where it stopped", requestControl("redrive")},
		"dag":      {"export a flow's DAG (dot, json or mermaid)", runDag},
		"logs":     {"print a function's logs", runLogs},
		"demo":     {"start a local stack, deploy stack.yml and run every example (the main job)", runDemo},
		"bench":    {"start a local stack, deploy bench.yml and run the end-to-end benchmark", runBench},
		"list":     {"list the deployed functions: replicas, invocations, image, flow or not", runList},
		"describe": {"show one function's deployment and status", runDescribe},
		"remove":   {"remove deployed functions (by name, or those of a stack file)", runRemove},
		"secret":   {"create, update, list or remove the gateway's secrets", runSecret},
		"trigger":  {"make a MinIO bucket's new objects start flows (trigger s3)", runTrigger},
		"version":  {"print the CLI's version and the gateway's", runVersion},
		"result":   {"print the result of a finished flow request", runResult},
		"help":     {"show the commands, or one command's usage", nil},
	}
}

func main() {
	e := env{stdin: stdinOrEmpty(), stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		setProcs: func(n int) { runtime.GOMAXPROCS(n) }, setGCPercent: func(n int) { debug.SetGCPercent(n) }}
	os.Exit(run(context.Background(), e, os.Args[1:]))
}

// run executes one command line and returns the exit code (exit.go).
func run(ctx context.Context, e env, args []string) int {
	cmds := commands()
	if len(args) == 0 {
		usage(e.stderr, cmds)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		return runHelp(ctx, e, cmds, args[1:])
	}
	name, c, ok := lookup(cmds, args[0])
	if !ok || c.run == nil {
		fmt.Fprintf(e.stderr, "faasflow: unknown command %q\n", args[0])
		usage(e.stderr, cmds)
		return exitUsage
	}
	if wantsHelp(args[1:]) {
		return showHelp(ctx, e, name, c, args[1:])
	}
	err := c.run(ctx, e, args[1:])
	code := exitCode(err)
	if code != exitOK {
		fmt.Fprintf(e.stderr, "faasflow %s: %v\n", name, err)
	}
	switch code {
	case exitUsage:
		fmt.Fprintf(e.stderr, "Run `faasflow help %s` for its usage.\n", name)
	case exitUnreachable:
		fmt.Fprintln(e.stderr, "Is the gateway running? Give its URL with --gateway or $OPENFAAS_URL, or the state dir of `faasflow up` with --state-dir or $FAASFLOW_STATE_DIR.")
	}
	return code
}

// stdinOrEmpty is os.Stdin unless it is a terminal (then no body).
func stdinOrEmpty() io.Reader {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice != 0 {
		return strings.NewReader("")
	}
	return os.Stdin
}
