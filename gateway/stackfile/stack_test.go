package stackfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSubstituteUsesValueThenDefault(t *testing.T) {
	env := map[string]string{"SET": "v", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ in, want string }{
		{"${SET}", "v"},
		{"${SET:-d}", "v"},
		{"${UNSET:-d}", "d"},
		{"${EMPTY:-d}", "d"},
		{"${UNSET}", ""},
		{"a-${SET}-b", "a-v-b"},
		{"$SET", "$SET"},
	}
	for _, tc := range tests {
		if got := Substitute(tc.in, lookup); got != tc.want {
			t.Errorf("Substitute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseAcceptsFaasCliStack(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "env.yml"), []byte("environment:\n  FROM_FILE: yes-file\n  FOO: overridden\n"), 0o644)
	src := `version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:${PORT:-8080}
functions:
  probe-fn:
    lang: golang-middleware
    handler: ./probe
    image: probe-fn:latest
    environment:
      FOO: hello
      write_timeout: 65s
      NUM: 3
    environment_file:
      - env.yml
    secrets: [faasflow-hmac-secret]
    labels:
      com.openfaas.scale.min: "1"
  classic:
    image: classic:latest
    fprocess: cat
`
	p := filepath.Join(dir, "stack.yml")
	os.WriteFile(p, []byte(src), 0o644)
	f, err := ParseFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Provider.Gateway != "http://127.0.0.1:8080" {
		t.Errorf("gateway = %q", f.Provider.Gateway)
	}
	fn := f.Functions["probe-fn"]
	env, err := f.EnvVars(fn)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"FOO": "overridden", "FROM_FILE": "yes-file", "write_timeout": "65s", "NUM": "3"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env[%s] = %q, want %q", k, env[k], v)
		}
	}
	if f.Resolve(fn.Handler) != filepath.Join(dir, "probe") {
		t.Errorf("handler resolves to %s", f.Resolve(fn.Handler))
	}
	if got := f.Names(); len(got) != 2 || got[0] != "classic" {
		t.Errorf("names = %v", got)
	}
}

func TestParseRejectsInvalidStacks(t *testing.T) {
	tests := map[string]string{
		"wrong version":   "version: 2.0\nprovider: {name: openfaas}\nfunctions: {a: {image: a, fprocess: cat}}\n",
		"wrong provider":  "version: 1.0\nprovider: {name: faas}\nfunctions: {a: {image: a, fprocess: cat}}\n",
		"no functions":    "version: 1.0\nprovider: {name: openfaas}\n",
		"bad name":        "version: 1.0\nprovider: {name: openfaas}\nfunctions: {A_b: {image: a, fprocess: cat}}\n",
		"no image":        "version: 1.0\nprovider: {name: openfaas}\nfunctions: {a: {fprocess: cat}}\n",
		"lang no handler": "version: 1.0\nprovider: {name: openfaas}\nfunctions: {a: {image: a, lang: go}}\n",
		"unknown field":   "version: 1.0\nprovider: {name: openfaas}\nfunctions: {a: {image: a, fprocess: cat, bogus: 1}}\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(src), nil)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func FuzzParseNeverPanics(f *testing.F) {
	f.Add([]byte("version: 1.0\nprovider: {name: openfaas}\nfunctions: {a: {image: a, fprocess: cat}}\n"))
	f.Add([]byte("${A:-${B}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b, func(string) (string, bool) { return "x", true })
	})
}
