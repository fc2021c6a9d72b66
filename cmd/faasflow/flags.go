package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/faas-flow/faas-flow/gateway/client"
)

// parse parses flags that may come before, after or between positional
// arguments and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string, e env, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("faasflow "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: faasflow %s\n\nFlags:\n", summary)
		fs.PrintDefaults()
	}
	return fs
}

// listFlag collects repeated values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// gatewayFlags are shared by commands that talk to a gateway.
type gatewayFlags struct {
	gateway, stateDir, user, password string
}

func (g *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.gateway, "gateway", "", "gateway `URL` (default $OPENFAAS_URL, else the URL of the faasflow up running in the state dir, else http://127.0.0.1:8080)")
	fs.StringVar(&g.stateDir, "state-dir", "", "`DIR` of a faasflow up to read its URL and credentials from (default $FAASFLOW_STATE_DIR, else .faasflow)")
	fs.StringVar(&g.user, "username", "", "gateway user (default: from the state dir, else $FAASFLOW_USERNAME)")
	fs.StringVar(&g.password, "password", "", "gateway password (default: from the state dir, else $FAASFLOW_PASSWORD)")
}

func (g *gatewayFlags) url(e env, fallback string) string {
	switch {
	case g.gateway != "":
		return strings.TrimRight(g.gateway, "/")
	case e.getenv("OPENFAAS_URL") != "":
		return strings.TrimRight(e.getenv("OPENFAAS_URL"), "/")
	case runningURL(g.dir(e)) != "":
		return runningURL(g.dir(e))
	case fallback != "":
		return strings.TrimRight(fallback, "/")
	}
	return "http://127.0.0.1:8080"
}

// dir is the state dir: --state-dir, else $FAASFLOW_STATE_DIR, else
// .faasflow.
func (g *gatewayFlags) dir(e env) string { return stateDir(e, g.stateDir) }

func (g *gatewayFlags) client(e env, fallback string) *client.Client {
	user, pass := g.user, g.password
	if user == "" {
		user = readTrim(filepath.Join(g.dir(e), "auth", "basic-auth-user"))
	}
	if pass == "" {
		pass = readTrim(filepath.Join(g.dir(e), "auth", "basic-auth-password"))
	}
	if user == "" {
		user = e.getenv("FAASFLOW_USERNAME")
	}
	if pass == "" {
		pass = e.getenv("FAASFLOW_PASSWORD")
	}
	return client.New(g.url(e, fallback), user, pass)
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// keyValues parses k=v (or "k: v") pairs.
func keyValues(list []string, what string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			k, v, ok = strings.Cut(kv, ":")
		}
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usagef("%s %q: want key=value", what, kv)
		}
		out[k] = append(out[k], strings.TrimSpace(v))
	}
	return out, nil
}

// printResponse copies a function's answer to stdout and fails on non-2xx.
func printResponse(e env, code int, body io.Reader) error {
	if code < 200 || code > 299 {
		b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
		return fmt.Errorf("server returned unexpected status code: %d - %s", code, strings.TrimSpace(string(b)))
	}
	_, err := io.Copy(e.stdout, body)
	return err
}

func escape(s string) string { return url.PathEscape(s) }
