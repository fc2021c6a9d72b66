package archtest

import (
	"fmt"
	"strings"
	"testing"
)

// rule is one dependency rule of docs/architecture.md.
type rule struct {
	name string
	// applies selects the packages the rule is about.
	applies func(p *pkg) bool
	// tests extends the rule to the imports of the packages' tests.
	tests bool
	// allowed reports whether an import is allowed (module imports are
	// given relative to the module, others as they are).
	allowed func(p *pkg, imp string, isLocal bool) bool
}

var rules = []rule{
	{
		name:    "sdk imports only the standard library",
		applies: func(p *pkg) bool { return p.path == "sdk" },
		tests:   true,
		allowed: func(p *pkg, imp string, isLocal bool) bool { return !isLocal && std(imp) || isLocal && imp == "sdk" },
	},
	{
		name:    "engine imports only sdk and the standard library, and no net/http",
		applies: func(p *pkg) bool { return p.path == "engine" },
		allowed: func(p *pkg, imp string, isLocal bool) bool {
			if isLocal {
				return imp == "sdk"
			}
			return std(imp) && !under(imp, "net/http")
		},
	},
	{
		name:    "stores import sdk and their own family (statestore/, datastore/), nothing else of the module",
		applies: func(p *pkg) bool { return under(p.path, "statestore") || under(p.path, "datastore") },
		allowed: func(p *pkg, imp string, isLocal bool) bool {
			return !isLocal || imp == "sdk" || under(imp, top(p.path))
		},
	},
	{
		name:    "transports import engine, sdk and other transports, nothing else of the module",
		applies: func(p *pkg) bool { return under(p.path, "transport") },
		allowed: func(p *pkg, imp string, isLocal bool) bool {
			return !isLocal || imp == "sdk" || imp == "engine" || under(imp, "transport")
		},
	},
	{
		name:    "observers import engine and sdk, nothing else of the module",
		applies: func(p *pkg) bool { return under(p.path, "observe") },
		allowed: func(p *pkg, imp string, isLocal bool) bool {
			return !isLocal || imp == "sdk" || imp == "engine" || under(imp, "observe")
		},
	},
	{
		name:    "runtime imports no gateway, no cmd and no test infrastructure",
		applies: func(p *pkg) bool { return under(p.path, "runtime") },
		allowed: func(p *pkg, imp string, isLocal bool) bool {
			return !isLocal || !(under(imp, "gateway") || under(imp, "cmd") || under(imp, "internal") || under(imp, "sdk/flowtest"))
		},
	},
	{
		// The dashboard reads flows through the gateway's public HTTP
		// surface only, so that it runs unchanged as an OpenFaaS function.
		name:    "dashboard imports only the standard library",
		applies: func(p *pkg) bool { return under(p.path, "dashboard") },
		tests:   true,
		allowed: func(p *pkg, imp string, isLocal bool) bool { return !isLocal && std(imp) },
	},
	{
		// A flow file becomes a Workflow like a Go Define's: the package
		// knows the sdk, not the engine or the runtime that execute it.
		name:    "flowfile imports only sdk, gopkg.in/yaml.v3 and the standard library",
		applies: func(p *pkg) bool { return p.path == "flowfile" },
		allowed: func(p *pkg, imp string, isLocal bool) bool {
			if isLocal {
				return imp == "sdk"
			}
			return std(imp) || imp == "gopkg.in/yaml.v3"
		},
	},
	{
		// The end-to-end and template tests under internal/ drive the whole
		// local stack; they are the one exception, and only for tests.
		name:    "nothing outside gateway/ and cmd/ imports gateway/",
		applies: func(p *pkg) bool { return !under(p.path, "gateway") && !under(p.path, "cmd") },
		tests:   true,
		allowed: func(p *pkg, imp string, isLocal bool) bool { return !isLocal || !under(imp, "gateway") },
	},
	{
		name:    "no package imports cmd/",
		applies: func(p *pkg) bool { return !under(p.path, "cmd") },
		tests:   true,
		allowed: func(p *pkg, imp string, isLocal bool) bool { return !isLocal || !under(imp, "cmd") },
	},
}

// testInfra reports packages whose tests may break the test-import rules:
// the end-to-end suites under internal/ that run the whole local stack.
func testInfra(p *pkg) bool { return under(p.path, "internal") }

// top is the first element of a path ("statestore" of "statestore/etcd").
func top(p string) string {
	first, _, _ := strings.Cut(p, "/")
	return first
}

func TestDependencyRules(t *testing.T) {
	pkgs := loadModule(t, moduleRoot(t))
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			matched := 0
			for _, p := range pkgs {
				if !r.applies(p) {
					continue
				}
				matched++
				for _, v := range violations(r, p) {
					t.Error(v)
				}
			}
			if matched == 0 {
				t.Fatal("the rule applies to no package: a package it names was moved or renamed")
			}
		})
	}
}

// violations lists the imports of p that break r.
func violations(r rule, p *pkg) []string {
	var out []string
	check := func(imps []string, what string) {
		for _, imp := range imps {
			rel, isLocal := local(imp)
			if !isLocal {
				rel = imp
			}
			if isLocal && rel == p.path {
				continue // a package's external test imports the package
			}
			if !r.allowed(p, rel, isLocal) {
				out = append(out, fmt.Sprintf("%s: %s imports %s", display(p.path), what, imp))
			}
		}
	}
	check(p.imports, "package")
	if r.tests && !testInfra(p) {
		check(p.tests, "test")
	}
	return out
}

func display(p string) string {
	if p == "" {
		return "(module root)"
	}
	return p
}

// TestRulesCatchTheImportsTheyForbid proves each rule with a made-up
// package that breaks it, so that a rule that can no longer fail is seen.
func TestRulesCatchTheImportsTheyForbid(t *testing.T) {
	cases := []struct {
		rule string
		p    pkg
	}{
		{"sdk imports only the standard library", pkg{path: "sdk", imports: []string{module + "/engine"}}},
		{"sdk imports only the standard library", pkg{path: "sdk", tests: []string{"github.com/google/uuid"}}},
		{"engine imports only sdk and the standard library, and no net/http", pkg{path: "engine", imports: []string{"net/http"}}},
		{"engine imports only sdk and the standard library, and no net/http", pkg{path: "engine", imports: []string{module + "/statestore/etcd"}}},
		{"stores import sdk and their own family (statestore/, datastore/), nothing else of the module", pkg{path: "statestore/etcd", imports: []string{module + "/engine"}}},
		{"stores import sdk and their own family (statestore/, datastore/), nothing else of the module", pkg{path: "datastore/minio", imports: []string{module + "/statestore/memory"}}},
		{"transports import engine, sdk and other transports, nothing else of the module", pkg{path: "transport/natsqueue", imports: []string{module + "/gateway/queue"}}},
		{"observers import engine and sdk, nothing else of the module", pkg{path: "observe/metrics", imports: []string{module + "/runtime"}}},
		{"runtime imports no gateway, no cmd and no test infrastructure", pkg{path: "runtime", imports: []string{module + "/gateway/api"}}},
		{"nothing outside gateway/ and cmd/ imports gateway/", pkg{path: "runtime", tests: []string{module + "/gateway/builder"}}},
		{"dashboard imports only the standard library", pkg{path: "dashboard", imports: []string{module + "/runtime"}}},
		{"no package imports cmd/", pkg{path: "gateway", imports: []string{module + "/cmd/faasflow/internal/bench"}}},
		{"flowfile imports only sdk, gopkg.in/yaml.v3 and the standard library", pkg{path: "flowfile", imports: []string{module + "/engine"}}},
		{"flowfile imports only sdk, gopkg.in/yaml.v3 and the standard library", pkg{path: "flowfile", imports: []string{"github.com/nats-io/nats.go"}}},
	}
	for _, tc := range cases {
		var r *rule
		for i := range rules {
			if rules[i].name == tc.rule {
				r = &rules[i]
			}
		}
		if r == nil {
			t.Fatalf("no rule %q", tc.rule)
		}
		if !r.applies(&tc.p) || len(violations(*r, &tc.p)) == 0 {
			t.Errorf("rule %q does not catch %s importing %v %v", tc.rule, tc.p.path, tc.p.imports, tc.p.tests)
		}
	}
}
