package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
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
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// commands lists the subcommands; add new ones here.
func commands() map[string]command {
	return map[string]command{
		"up":      {"start the local gateway, NATS JetStream and etcd in the foreground", runUp},
		"down":    {"stop a running `faasflow up` (via its pid file)", runDown},
		"deploy":  {"build and deploy the functions of a stack file", runDeploy},
		"invoke":  {"invoke a function (stdin is the body)", runInvoke},
		"state":   {"show the state of a flow request", runState},
		"pause":   {"pause a flow request", requestControl("pause")},
		"resume":  {"resume a paused flow request", requestControl("resume")},
		"stop":    {"stop a flow request for good", requestControl("stop")},
		"redrive": {"restart a failed or stopped flow request from where it stopped", requestControl("redrive")},
		"dag":     {"export a flow's DAG (dot, json or mermaid)", runDag},
		"logs":    {"print a function's logs", runLogs},
		"demo":    {"start a local stack, deploy stack.yml and run every example (the main job)", runDemo},
		"bench":   {"start a local stack, deploy bench.yml and run the end-to-end benchmark", runBench},
	}
}

func main() {
	e := env{stdin: stdinOrEmpty(), stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		setProcs: func(n int) { runtime.GOMAXPROCS(n) }}
	os.Exit(run(context.Background(), e, os.Args[1:]))
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, e env, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "faasflow: unknown command %q\n", args[0])
		usage(e.stderr, cmds)
		return 2
	}
	if err := c.run(ctx, e, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(e.stderr, "faasflow %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: faasflow COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun `faasflow COMMAND -h` for a command's flags. See docs/gateway.md.")
}

// stdinOrEmpty is os.Stdin unless it is a terminal (then no body).
func stdinOrEmpty() io.Reader {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice != 0 {
		return strings.NewReader("")
	}
	return os.Stdin
}
