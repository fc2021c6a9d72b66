package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// cliVersion is what the binary knows of its own build.
type cliVersion struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// buildVersion reads the module version and the VCS stamp that `go build`
// puts in the binary ("(devel)" and no commit when built without them,
// e.g. in tests).
func buildVersion() cliVersion {
	v := cliVersion{Version: "(devel)"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Go = bi.GoVersion
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func runVersion(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("version", e, "version [--client] [--json]")
	var g gatewayFlags
	g.register(fs)
	clientOnly := fs.Bool("client", false, "only the CLI's version: do not ask the gateway")
	asJSON := fs.Bool("json", false, "print JSON: {\"cli\": ..., \"gateway\": GatewayInfo, \"gateway_url\": ...}")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	cli := buildVersion()
	var info *api.GatewayInfo
	var infoErr error
	c := g.client(e, "")
	if !*clientOnly {
		i, err := c.Info(ctx)
		info, infoErr = &i, err
		if err != nil {
			info = nil
		}
	}
	if *asJSON {
		out := struct {
			CLI     cliVersion       `json:"cli"`
			URL     string           `json:"gateway_url,omitempty"`
			Gateway *api.GatewayInfo `json:"gateway,omitempty"`
		}{CLI: cli, Gateway: info}
		if info != nil {
			out.URL = c.URL
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		return infoErr
	}
	printVersion(e, cli, c.URL, info)
	return infoErr
}

func printVersion(e env, v cliVersion, url string, info *api.GatewayInfo) {
	w := e.stdout
	commit := v.Commit
	if commit != "" && v.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "CLI:\n  version   %s\n", v.Version)
	if commit != "" {
		fmt.Fprintf(w, "  commit    %s\n", commit)
	}
	if v.Time != "" {
		fmt.Fprintf(w, "  built     %s\n", v.Time)
	}
	fmt.Fprintf(w, "  go        %s\n", v.Go)
	if info == nil {
		return
	}
	fmt.Fprintf(w, "Gateway:\n  url       %s\n", url)
	if info.Version != nil {
		fmt.Fprintf(w, "  version   %s\n", info.Version.Release)
	}
	if p := info.Provider; p != nil {
		release := ""
		if p.Version != nil {
			release = " " + p.Version.Release
		}
		fmt.Fprintf(w, "  provider  %s%s (%s)\n", p.Name, release, p.Orchestration)
	}
	fmt.Fprintf(w, "  arch      %s\n", info.Arch)
}
