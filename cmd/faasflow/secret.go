package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// secretUsage lists the subcommands of `faasflow secret`.
const secretUsage = `Usage: faasflow secret SUBCOMMAND [flags]

Subcommands:
  create NAME [--from-literal V | --from-file F]   add a secret (stdin is the value when neither flag is given); fails if it exists
  update NAME [--from-literal V | --from-file F]   replace a secret's value; fails if it does not exist
  list, ls                                         print the secrets' names (never their values)
  remove, rm NAME...                               remove secrets

Functions read the secrets they list under secrets: in the stack file.
Run ` + "`faasflow help secret SUBCOMMAND`" + ` for a subcommand's flags.
`

func runSecret(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: create, update, list or remove")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(e.stderr, secretUsage)
		return flag.ErrHelp
	case "create":
		return secretWrite(ctx, e, false, args[1:])
	case "update":
		return secretWrite(ctx, e, true, args[1:])
	case "list", "ls":
		return secretList(ctx, e, args[1:])
	case "remove", "rm":
		return secretRemove(ctx, e, args[1:])
	}
	return usagef("unknown subcommand %q: want create, update, list or remove", args[0])
}

// secretWrite creates (update false) or updates one secret.
func secretWrite(ctx context.Context, e env, update bool, args []string) error {
	verb := "create"
	if update {
		verb = "update"
	}
	fs := newFlagSet("secret "+verb, e, "secret "+verb+" NAME [--from-literal VALUE | --from-file FILE] (stdin is the value when neither is given)")
	var g gatewayFlags
	g.register(fs)
	literal := fs.String("from-literal", "", "the value")
	file := fs.String("from-file", "", "read the value from this file (as it is, byte for byte)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one secret name")
	}
	value, err := secretValue(e, *literal, *file)
	if err != nil {
		return err
	}
	c := g.client(e, "")
	if update {
		err = c.UpdateSecret(ctx, pos[0], value)
	} else {
		err = c.CreateSecret(ctx, pos[0], value)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%sd secret %s\n", verb, pos[0])
	return nil
}

// secretValue is the value given by --from-literal, --from-file or, with
// neither, stdin (without its trailing newline, as faas-cli reads it).
func secretValue(e env, literal, file string) ([]byte, error) {
	var value []byte
	switch {
	case literal != "" && file != "":
		return nil, usagef("give --from-literal or --from-file, not both")
	case literal != "":
		value = []byte(literal)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read the secret's value: %w", err)
		}
		value = b
	default:
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("read the secret's value from stdin: %w", err)
		}
		value = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	if len(value) == 0 {
		return nil, usagef("the secret's value is empty: give --from-literal, --from-file or a value on stdin")
	}
	return value, nil
}

func secretList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("secret list", e, "secret list")
	var g gatewayFlags
	g.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	secrets, err := g.client(e, "").Secrets(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(secrets))
	for _, s := range secrets {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(e.stdout, n)
	}
	return nil
}

func secretRemove(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("secret remove", e, "secret remove NAME...")
	var g gatewayFlags
	g.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want at least one secret name")
	}
	c := g.client(e, "")
	var errs []error
	for _, n := range pos {
		if err := c.DeleteSecret(ctx, n); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(e.stdout, "removed secret %s\n", n)
	}
	return errors.Join(errs...)
}
