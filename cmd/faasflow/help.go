package main

import (
	"context"
	"fmt"
	"io"
	"sort"
)

// aliases are other names of commands, as faas-cli has them.
var aliases = map[string]string{"rm": "remove", "ls": "list"}

// lookup finds the command called name or one of its aliases, and returns
// its own name.
func lookup(cmds map[string]command, name string) (string, command, bool) {
	if real, ok := aliases[name]; ok {
		name = real
	}
	c, ok := cmds[name]
	return name, c, ok
}

// usage lists the commands on w.
func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: faasflow COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		label := n
		for a, real := range aliases {
			if real == n {
				label += ", " + a
			}
		}
		fmt.Fprintf(w, "  %-12s %s\n", label, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun `faasflow help COMMAND` (or `faasflow COMMAND --help`) for a command's usage and flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 the operation failed, 2 usage error, 3 the gateway cannot be reached.")
}

// runHelp serves `faasflow help [COMMAND [SUBCOMMAND]]`: the list of
// commands, or one command's usage, on stdout.
func runHelp(ctx context.Context, e env, cmds map[string]command, args []string) int {
	if len(args) == 0 {
		usage(e.stdout, cmds)
		return exitOK
	}
	name, c, ok := lookup(cmds, args[0])
	if !ok {
		fmt.Fprintf(e.stderr, "faasflow help: unknown command %q\n", args[0])
		usage(e.stderr, cmds)
		return exitUsage
	}
	if c.run == nil { // help itself
		usage(e.stdout, cmds)
		return exitOK
	}
	return showHelp(ctx, e, name, c, append(args[1:len(args):len(args)], "-h"))
}

// wantsHelp reports whether args ask for help (-h, -help or --help before
// any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// showHelp prints command name's summary and then its usage, which its
// flag set writes when args ask for help, on stdout.
func showHelp(ctx context.Context, e env, name string, c command, args []string) int {
	fmt.Fprintf(e.stdout, "faasflow %s: %s\n\n", name, c.summary)
	h := e
	h.stderr = e.stdout
	err := c.run(ctx, h, args)
	if code := exitCode(err); code != exitOK {
		fmt.Fprintf(e.stderr, "faasflow %s: %v\n", name, err)
		return code
	}
	return exitOK
}
