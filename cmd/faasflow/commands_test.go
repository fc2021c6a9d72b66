package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/gateway"
)

// TestFunctionAndSecretCommandsAgainstLocalGateway runs list, describe,
// secret, version and remove, in this order, against a local gateway with
// one function deployed, checking their output and exit codes.
func TestFunctionAndSecretCommandsAgainstLocalGateway(t *testing.T) {
	state := t.TempDir()
	l, err := gateway.StartLocal(context.Background(), gateway.LocalOptions{StateDir: state})
	if err != nil {
		t.Fatalf("local gateway did not start: %v", err)
	}
	defer l.Close()
	if r := cli(t, "", "deploy", "-f", writeStack(t, l.URL()), "--state-dir", state); r.code != 0 {
		t.Fatalf("deploy = %d\n%s", r.code, r.stderr)
	}
	valueFile := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(valueFile, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(l.SecretsDir(), name))
		return string(b)
	}
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout []string // parts of it
		stderr string   // a part of it
		check  func() string
	}{
		{"list shows replicas, invocations, image and that echo is no flow", "", []string{"list"}, 0,
			[]string{"FUNCTION  INVOCATIONS  REPLICAS  IMAGE", "echo      0            1/1       echo:latest  no"}, "", nil},
		{"ls -q prints the names only", "", []string{"ls", "-q"}, 0, []string{"echo\n"}, "", nil},
		{"list --json", "", []string{"list", "--json"}, 0, []string{`"name": "echo"`, `"availableReplicas": 1`, `"flow": "no"`}, "", nil},
		{"describe shows the deployment", "", []string{"describe", "echo"}, 0,
			[]string{"Name:                echo\n", "Status:              Ready\n", "Image:               echo:latest\n", "Flow:                no\n", "URL:                 " + l.URL() + "/function/echo\n"}, "", nil},
		{"describe --verbose shows the environment", "", []string{"describe", "echo", "--verbose"}, 0, []string{"GREETING=hi"}, "", nil},
		{"describe of an unknown function", "", []string{"describe", "missing"}, 1, nil, "404", nil},
		{"describe --json is the gateway's FunctionStatus", "", []string{"describe", "echo", "--json"}, 0, []string{`"name": "echo"`, `"image": "echo:latest"`, `"GREETING": "hi"`}, "", nil},
		{"secret create from a literal", "", []string{"secret", "create", "s1", "--from-literal", "v1"}, 0, []string{"created secret s1\n"}, "",
			func() string { return want(secret("s1"), "v1") }},
		{"secret create of an existing secret", "", []string{"secret", "create", "s1", "--from-literal", "v2"}, 1, nil, "409", nil},
		{"secret create from stdin drops the newline", "from stdin\n", []string{"secret", "create", "s2"}, 0, []string{"created secret s2\n"}, "",
			func() string { return want(secret("s2"), "from stdin") }},
		{"secret create from a file keeps every byte", "", []string{"secret", "create", "s3", "--from-file", valueFile}, 0, nil, "",
			func() string { return want(secret("s3"), "from a file\n") }},
		{"secret create without a value", "", []string{"secret", "create", "s4"}, 2, nil, "value is empty", nil},
		{"secret update", "", []string{"secret", "update", "s1", "--from-literal", "v1b"}, 0, []string{"updated secret s1\n"}, "",
			func() string { return want(secret("s1"), "v1b") }},
		{"secret update of a missing secret", "", []string{"secret", "update", "nope", "--from-literal", "x"}, 1, nil, "404", nil},
		{"secret list prints names, not values", "", []string{"secret", "list"}, 0, []string{"s1\ns2\ns3\n"}, "",
			nil},
		{"secret rm", "", []string{"secret", "rm", "s2"}, 0, []string{"removed secret s2\n"}, "",
			func() string { return want(secret("s2"), "") }},
		{"secret remove of a missing secret", "", []string{"secret", "remove", "s2"}, 1, nil, "404", nil},
		{"version shows the CLI and the gateway", "", []string{"version"}, 0,
			[]string{"CLI:\n  version   ", "Gateway:\n  url       " + l.URL(), "provider  faasflow-local " + gateway.Version + " (process)"}, "", nil},
		{"version --json", "", []string{"version", "--json"}, 0, []string{`"cli": {`, `"gateway_url": "` + l.URL() + `"`, `"provider": "faasflow-local"`}, "", nil},
		{"rm removes the functions it can and fails for the others", "", []string{"rm", "missing", "echo"}, 1, []string{"removed echo\n"}, "remove missing: gateway answered 404", nil},
		{"remove of a function that is gone", "", []string{"remove", "echo"}, 1, nil, "404", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, tt.stdin, append(tt.args, "--gateway", l.URL(), "--state-dir", state)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("faasflow %s = %d\nstdout %q\nstderr %q", strings.Join(tt.args, " "), r.code, r.stdout, r.stderr)
			}
			for _, part := range tt.stdout {
				if !strings.Contains(r.stdout, part) {
					t.Fatalf("faasflow %s: stdout lacks %q:\n%s", strings.Join(tt.args, " "), part, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "v1b") || strings.Contains(r.stdout, "from stdin") {
				t.Fatalf("a secret's value was printed: %q", r.stdout)
			}
			if tt.check != nil {
				if msg := tt.check(); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}
	if r := cli(t, "", "list", "-q", "--gateway", l.URL(), "--state-dir", state); r.code != 0 || r.stdout != "" {
		t.Fatalf("list after remove = %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// want is "" when got is wanted, else a message saying what differs.
func want(got, wanted string) string {
	if got == wanted {
		return ""
	}
	return "got " + strings.TrimSpace(strings.ReplaceAll(got, "\n", `\n`)) + ", want " + strings.ReplaceAll(wanted, "\n", `\n`)
}

// closedURL is the URL of a local port that nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// TestClientCommandsExitThreeWhenTheGatewayCannotBeReached: every command
// that talks to a gateway exits 3, with a hint, when nothing answers.
func TestClientCommandsExitThreeWhenTheGatewayCannotBeReached(t *testing.T) {
	gw := []string{"--gateway", closedURL(t), "--state-dir", t.TempDir()}
	for _, args := range [][]string{
		{"list"}, {"describe", "f"}, {"remove", "f"}, {"secret", "list"}, {"secret", "create", "s", "--from-literal", "v"},
		{"secret", "rm", "s"}, {"version"}, {"result", "f", "id"}, {"state", "f", "id"}, {"pause", "f", "id"},
		{"invoke", "f"}, {"dag", "f"}, {"logs", "f"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := cli(t, "", append(args, gw...)...)
			if r.code != exitUnreachable || !strings.Contains(r.stderr, "connection refused") || !strings.Contains(r.stderr, "Is the gateway running?") {
				t.Fatalf("faasflow %s = %d %q", strings.Join(args, " "), r.code, r.stderr)
			}
		})
	}
	// version still prints what the CLI knows of itself.
	if r := cli(t, "", append([]string{"version"}, gw...)...); !strings.Contains(r.stdout, "CLI:\n  version") || strings.Contains(r.stdout, "Gateway:") {
		t.Fatalf("version without a gateway printed %q", r.stdout)
	}
	if r := cli(t, "", append([]string{"version", "--client"}, gw...)...); r.code != 0 || !strings.Contains(r.stdout, "  go        go1.") {
		t.Fatalf("version --client = %d %q %q", r.code, r.stdout, r.stderr)
	}
}
