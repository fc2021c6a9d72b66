package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSplitNameUsesLastDotAndDefaultNamespace(t *testing.T) {
	tests := []struct{ in, name, ns string }{
		{"fn", "fn", DefaultNamespace},
		{"fn.openfaas-fn", "fn", "openfaas-fn"},
		{"a.b.dev", "a.b", "dev"},
	}
	for _, tc := range tests {
		if n, ns := SplitName(tc.in); n != tc.name || ns != tc.ns {
			t.Errorf("SplitName(%q) = %q, %q", tc.in, n, ns)
		}
	}
}

func TestValidNameIsRFC1123Label(t *testing.T) {
	for name, want := range map[string]bool{
		"fn": true, "my-fn-2": true, "-fn": false, "fn-": false, "Fn": false, "f_n": false, "": false,
		strings.Repeat("a", 63): true, strings.Repeat("a", 64): false,
	} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
}

func TestFunctionStatusAlwaysCarriesCreatedAtAndOmitsEmptyFields(t *testing.T) {
	b, _ := json.Marshal(FunctionStatus{Name: "f", Image: "i"})
	s := string(b)
	if !strings.Contains(s, `"createdAt":"0001-01-01T00:00:00Z"`) {
		t.Errorf("createdAt missing: %s", s)
	}
	for _, k := range []string{"availableReplicas", "invocationCount", "envVars", "labels", "usage"} {
		if strings.Contains(s, k) {
			t.Errorf("%s not omitted: %s", k, s)
		}
	}
	b, _ = json.Marshal(FunctionDeployment{Service: "s", Image: "i", Labels: &map[string]string{}})
	if string(b) != `{"service":"s","image":"i","labels":{}}` {
		t.Errorf("deployment = %s", b)
	}
}

func FuzzDeploymentDecode(f *testing.F) {
	f.Add([]byte(`{"service":"probe-fn","image":"probe-fn:latest","envProcess":"./handler","envVars":{"A":"b"},"secrets":["s"],"labels":{},"annotations":{},"limits":{"memory":"128Mi"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d FunctionDeployment
		if json.Unmarshal(b, &d) != nil {
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var d2 FunctionDeployment
		if err := json.Unmarshal(out, &d2); err != nil || d2.Service != d.Service || d2.Image != d.Image {
			t.Fatalf("round trip changed %+v into %+v (%v)", d, d2, err)
		}
	})
}
