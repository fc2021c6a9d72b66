package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/faas-flow/faas-flow/gateway/client"
	"github.com/faas-flow/faas-flow/gateway/stackfile"
)

func runDeploy(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("deploy", e, "deploy [-f stack.yml] [flags]")
	var g gatewayFlags
	g.register(fs)
	file := fs.String("f", "", "stack file (default stack.yaml, then stack.yml)")
	secretFile := fs.String("payload-secret", "", "file with the gateway's builder secret (default STATE_DIR/auth/payload-secret)")
	sdkDir := fs.String("sdk-dir", "", "faas-flow checkout for offline builds (default: found from the stack file)")
	var only listFlag
	fs.Var(&only, "filter", "deploy only this function (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (use -f for the stack file)", pos[0])
	}
	if *file == "" {
		for _, c := range []string{"stack.yaml", "stack.yml"} {
			if _, err := os.Stat(c); err == nil {
				*file = c
				break
			}
		}
		if *file == "" {
			return fmt.Errorf("no stack file: pass -f stack.yml")
		}
	}
	f, err := stackfile.ParseFile(*file)
	if err != nil {
		return err
	}
	if *secretFile == "" {
		*secretFile = filepath.Join(g.dir(e), "auth", "payload-secret")
	}
	secret := readTrim(*secretFile)
	c := g.client(e, f.Provider.Gateway)
	fmt.Fprintf(e.stderr, "deploying %s to %s\n", *file, c.URL)
	return client.DeployStack(ctx, c, *file, client.DeployOptions{
		PayloadSecret: []byte(secret), SDKDir: *sdkDir, Only: only, Log: e.stderr,
	})
}
