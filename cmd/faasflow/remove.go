package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/faas-flow/faas-flow/gateway/stackfile"
)

func runRemove(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("remove", e, "remove NAME... | remove -f stack.yml [--filter NAME]...")
	var g gatewayFlags
	g.register(fs)
	file := fs.String("f", "", "remove the functions of this stack file")
	var only listFlag
	fs.Var(&only, "filter", "with -f: remove only this function (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	names, fallback, err := removeTargets(*file, pos, only)
	if err != nil {
		return err
	}
	c := g.client(e, fallback)
	var errs []error
	for _, n := range names {
		if err := c.Delete(ctx, n); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(e.stdout, "removed %s\n", n)
	}
	return errors.Join(errs...)
}

// removeTargets are the functions to remove: the names given, or those of
// the stack file (only the filtered ones when filters are given), with
// the stack's gateway as the fallback gateway URL.
func removeTargets(file string, names, only []string) (targets []string, gateway string, err error) {
	switch {
	case file == "" && len(names) == 0:
		return nil, "", usagef("want function names, or -f stack.yml")
	case file != "" && len(names) > 0:
		return nil, "", usagef("give function names or -f stack.yml, not both")
	case file == "" && len(only) > 0:
		return nil, "", usagef("--filter needs -f stack.yml")
	case file == "":
		return names, "", nil
	}
	f, err := stackfile.ParseFile(file)
	if err != nil {
		return nil, "", err
	}
	for _, n := range f.Names() {
		if len(only) == 0 || contains(only, n) {
			targets = append(targets, n)
		}
	}
	if len(targets) == 0 {
		return nil, "", fmt.Errorf("%s has no function named %v", file, only)
	}
	return targets, f.Provider.Gateway, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
