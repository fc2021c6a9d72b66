package flowfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/faas-flow/faas-flow/flowfile"
	"github.com/faas-flow/faas-flow/sdk"
)

func TestParseRefusesBadFilesNamingFileLineAndField(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"not YAML", "StartAt: [a\n", "flow.yaml:1:1: (top): not valid YAML or JSON: yaml: line 1"},
		{"empty", "", "flow.yaml:1:1: (top): the file is empty"},
		{"unknown top-level field", "StartAt: A\nStates:\n  A: {Type: Succeed}\nVersoin: '1.0'\n", "flow.yaml:4:1: Versoin: unknown field"},
		{"request timeout", "StartAt: A\nTimeoutSeconds: 5\nStates:\n  A: {Type: Succeed}\n", "flow.yaml:2:1: TimeoutSeconds: is not supported: the engine has no deadline"},
		{"missing StartAt", "States:\n  A: {Type: Succeed}\n", "flow.yaml:1:1: StartAt: missing"},
		{"StartAt names no state", "StartAt: B\nStates:\n  A: {Type: Succeed}\n", `flow.yaml:1:10: StartAt: no state is called "B"`},
		{"unknown state type", "StartAt: A\nStates:\n  A: {Type: Sleep}\n", `flow.yaml:3:13: States.A.Type: unknown state type "Sleep"`},
		{"Wait", "StartAt: A\nStates:\n  A:\n    Type: Wait\n    Seconds: 5\n    End: true\n", "flow.yaml:4:11: States.A.Type: Wait states are not supported"},
		{"missing Type", "StartAt: A\nStates:\n  A: {End: true}\n", "flow.yaml:3:3: States.A.Type: missing"},
		{"unknown field of a state", "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Nxet: B\n    End: true\n", "flow.yaml:5:5: States.A.Nxet: unknown field for a Pass state"},
		{"Next on a Succeed", "StartAt: A\nStates:\n  A: {Type: Succeed, Next: A}\n", "flow.yaml:3:22: States.A.Next: unknown field for a Succeed state"},
		{"Catch", "StartAt: A\nStates:\n  A:\n    Type: Task\n    Resource: function:echo\n    Catch: []\n    End: true\n", "flow.yaml:6:5: States.A.Catch: is not supported: the engine has no transition on error"},
		{"ResultPath on a Parallel", "StartAt: A\nStates:\n  A:\n    Type: Parallel\n    ResultPath: $.x\n    Branches: [{StartAt: B, States: {B: {Type: Succeed}}}]\n    End: true\n", "flow.yaml:5:5: States.A.ResultPath: is supported on Task and Pass states only"},
		{"Parameters on a Succeed", "StartAt: A\nStates:\n  A: {Type: Succeed, Parameters: {}}\n", "flow.yaml:3:22: States.A.Parameters: is supported on Task and Pass states only"},
		{"ItemSelector", "StartAt: A\nStates:\n  A:\n    Type: Map\n    ItemSelector: {}\n    Iterator: {StartAt: B, States: {B: {Type: Succeed}}}\n    End: true\n", "flow.yaml:5:5: States.A.ItemSelector: is not supported"},
		{"ResultPath with an index", "StartAt: A\nStates:\n  A: {Type: Pass, ResultPath: '$.a[0]', End: true}\n", "flow.yaml:3:31: States.A.ResultPath: a ResultPath names fields only"},
		{"context object in Parameters", "StartAt: A\nStates:\n  A: {Type: Pass, Parameters: {id.$: $$.Execution.Id}, End: true}\n", "flow.yaml:3:38: States.A.Parameters.id.$: the context object ($$) is not supported"},
		{"Parameters path that is not a path", "StartAt: A\nStates:\n  A: {Type: Pass, Parameters: {id.$: name}, End: true}\n", "flow.yaml:3:38: States.A.Parameters.id.$: path \"name\" must start with $"},
		{"OutputPath on a Choice", "StartAt: A\nStates:\n  A:\n    Type: Choice\n    OutputPath: $.x\n    Choices: [{Variable: $.a, IsPresent: true, Next: B}]\n  B: {Type: Succeed}\n", "flow.yaml:5:5: States.A.OutputPath: unknown field for a Choice state"},
		{"Resource that is not a function", "StartAt: A\nStates:\n  A: {Type: Task, Resource: 'arn:aws:lambda:x', End: true}\n", `flow.yaml:3:29: States.A.Resource: must be "function:<name>"`},
		{"Task without Resource", "StartAt: A\nStates:\n  A: {Type: Task, End: true}\n", "flow.yaml:3:3: States.A.Resource: missing"},
		{"neither Next nor End", "StartAt: A\nStates:\n  A: {Type: Pass}\n", "flow.yaml:3:3: States.A.Next: missing: give Next or End: true"},
		{"both Next and End", "StartAt: A\nStates:\n  A: {Type: Pass, Next: B, End: true}\n  B: {Type: Succeed}\n", "flow.yaml:3:25: States.A.Next: give Next or End: true, not both"},
		{"End that is not a bool", "StartAt: A\nStates:\n  A: {Type: Pass, End: yes}\n", "flow.yaml:3:24: States.A.End: must be true or false"},
		{"Next names no state", "StartAt: A\nStates:\n  A: {Type: Pass, Next: C}\n", `flow.yaml:3:25: States.A.Next: no state is called "C"`},
		{"cycle through Next", "StartAt: A\nStates:\n  A: {Type: Pass, Next: B}\n  B: {Type: Pass, Next: A}\n", `flow.yaml:4:25: States.B.Next: goes back to state "A", making a cycle`},
		{"cycle through a Choice", "StartAt: A\nStates:\n  A: {Type: Pass, Next: B}\n  B:\n    Type: Choice\n    Choices:\n      - {Variable: $.again, BooleanEquals: true, Next: A}\n    Default: C\n  C: {Type: Succeed}\n",
			`flow.yaml:7:56: States.B.Choices[0].Next: goes back to state "A", making a cycle`},
		{"self loop", "StartAt: A\nStates:\n  A: {Type: Pass, Next: A}\n", `flow.yaml:3:25: States.A.Next: goes back to state "A"`},
		{"unreachable state", "StartAt: A\nStates:\n  A: {Type: Succeed}\n  B: {Type: Succeed}\n", "flow.yaml:4:3: States.B: unreachable"},
		{"state name with a slash", "StartAt: a/b\nStates:\n  a/b: {Type: Succeed}\n", "flow.yaml:3:3: States.a/b: a state name must not contain '/'"},
		{"state given twice", "StartAt: A\nStates:\n  A: {Type: Succeed}\n  A: {Type: Succeed}\n", "flow.yaml:4:3: States.A: given twice"},
		{"two retriers", "StartAt: A\nStates:\n  A:\n    Type: Task\n    Resource: function:f\n    Retry:\n      - ErrorEquals: [States.ALL]\n      - ErrorEquals: [States.ALL]\n    End: true\n", "flow.yaml:8:9: States.A.Retry[1]: only one retrier per state"},
		{"custom error name", "StartAt: A\nStates:\n  A:\n    Type: Task\n    Resource: function:f\n    Retry: [{ErrorEquals: [Lambda.ServiceException]}]\n    End: true\n", `flow.yaml:6:28: States.A.Retry[0].ErrorEquals: error name "Lambda.ServiceException" is not supported`},
		{"retrier without ErrorEquals", "StartAt: A\nStates:\n  A:\n    Type: Task\n    Resource: function:f\n    Retry: [{MaxAttempts: 2}]\n    End: true\n", "flow.yaml:6:13: States.A.Retry[0].ErrorEquals: missing"},
		{"BackoffRate below 1", "StartAt: A\nStates:\n  A:\n    Type: Task\n    Resource: function:f\n    Retry: [{ErrorEquals: [States.ALL], BackoffRate: 0.5}]\n    End: true\n", "flow.yaml:6:54: States.A.Retry[0].BackoffRate: must be at least 1.0"},
		{"TimeoutSeconds not a number", "StartAt: A\nStates:\n  A: {Type: Task, Resource: function:f, TimeoutSeconds: soon, End: true}\n", "flow.yaml:3:57: States.A.TimeoutSeconds: must be a number"},
		{"unknown comparison", "StartAt: A\nStates:\n  A:\n    Type: Choice\n    Choices: [{Variable: $.a, StringLike: x, Next: B}]\n  B: {Type: Succeed}\n", "flow.yaml:5:31: States.A.Choices[0].StringLike: unknown field: not a supported comparison"},
		{"comparison of the wrong type", "StartAt: A\nStates:\n  A:\n    Type: Choice\n    Choices: [{Variable: $.a, NumericEquals: ten, Next: B}]\n  B: {Type: Succeed}\n", "flow.yaml:5:46: States.A.Choices[0].NumericEquals: must be a number"},
		{"rule without Next", "StartAt: A\nStates:\n  A:\n    Type: Choice\n    Choices: [{Variable: $.a, IsPresent: true}]\n", "flow.yaml:5:15: States.A.Choices[0].Next: missing"},
		{"rule without Variable", "StartAt: A\nStates:\n  A:\n    Type: Choice\n    Choices: [{StringEquals: x, Next: B}]\n  B: {Type: Succeed}\n", "flow.yaml:5:15: States.A.Choices[0].Variable: missing"},
		{"bad Variable path", "StartAt: A\nStates:\n  A:\n    Type: Choice\n    Choices: [{Variable: 'order.total', IsPresent: true, Next: B}]\n  B: {Type: Succeed}\n", "flow.yaml:5:26: States.A.Choices[0].Variable: path \"order.total\" must start with $"},
		{"wildcard path", "StartAt: A\nStates:\n  A: {Type: Pass, InputPath: '$.a[*]', End: true}\n", "flow.yaml:3:30: States.A.InputPath: path \"$.a[*]\""},
		{"Parallel without Branches", "StartAt: A\nStates:\n  A: {Type: Parallel, End: true}\n", "flow.yaml:3:3: States.A.Branches: missing"},
		{"bad state inside a branch", "StartAt: A\nStates:\n  A:\n    Type: Parallel\n    End: true\n    Branches:\n      - StartAt: B\n        States:\n          B: {Type: Pass, Next: Z}\n", `flow.yaml:9:33: States.A.Branches[0].States.B.Next: no state is called "Z"`},
		{"Map without a processor", "StartAt: A\nStates:\n  A: {Type: Map, End: true}\n", "flow.yaml:3:3: States.A.ItemProcessor: missing"},
		{"distributed Map", "StartAt: A\nStates:\n  A:\n    Type: Map\n    End: true\n    ItemProcessor:\n      ProcessorConfig: {Mode: DISTRIBUTED}\n      StartAt: B\n      States: {B: {Type: Succeed}}\n", "flow.yaml:7:31: States.A.ItemProcessor.ProcessorConfig.Mode: must be INLINE"},
		{"tolerated percentage out of range", "StartAt: A\nStates:\n  A:\n    Type: Map\n    End: true\n    ToleratedFailurePercentage: 150\n    Iterator: {StartAt: B, States: {B: {Type: Succeed}}}\n", "flow.yaml:6:33: States.A.ToleratedFailurePercentage: must be from 0 to 100"},
		{"negative MaxConcurrency", "StartAt: A\nStates:\n  A:\n    Type: Map\n    End: true\n    MaxConcurrency: -1\n    Iterator: {StartAt: B, States: {B: {Type: Succeed}}}\n", "flow.yaml:6:21: States.A.MaxConcurrency: must be a whole number from 0"},
		{"cycle inside a Map", "StartAt: A\nStates:\n  A:\n    Type: Map\n    End: true\n    Iterator: {StartAt: B, States: {B: {Type: Pass, Next: B}}}\n", `flow.yaml:6:59: States.A.Iterator.States.B.Next: goes back to state "B"`},
		{"JSON with an unknown field", `{"StartAt": "A", "States": {"A": {"Type": "Succeed", "Ned": true}}}`, "flow.yaml:1:54: States.A.Ned: unknown field for a Succeed state"},
		{"JSON cycle on line 4", "{\"StartAt\": \"A\",\n \"States\": {\n  \"A\": {\"Type\": \"Pass\", \"Next\": \"B\"},\n  \"B\": {\"Type\": \"Pass\", \"Next\": \"A\"}}}\n", `flow.yaml:4:33: States.B.Next: goes back to state "A"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := flowfile.Parse("flow.yaml", []byte(c.src))
			var fe *flowfile.Error
			if !errors.As(err, &fe) || !errors.Is(err, flowfile.ErrInvalid) {
				t.Fatalf("error %v (%T), want a *flowfile.Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error\n\t%s\nwant it to start with\n\t%s", err, c.want)
			}
		})
	}
}

func TestLoadReadsYAMLAndJSONFilesIntoValidFlows(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"flow.yaml": parallelFlow,
		"flow.json": `{"Comment": "json", "StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "function:upper", "Next": "B"}, "B": {"Type": "Succeed"}}}`,
	}
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		def, err := flowfile.Load(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		flow := sdk.NewWorkflow()
		if err := def.Define(flow, sdk.NewContext(t.Context(), "test", "test", nil, nil)); err != nil {
			t.Fatal(err)
		}
		if err := flow.Validate(); err != nil {
			t.Fatalf("%s: the flow it defines is invalid: %v", name, err)
		}
	}
	if _, err := flowfile.Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
}

func TestLoadFSFindsTheOneFlowFileOfAHandlerFolder(t *testing.T) {
	ok := `{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}`
	cases := []struct {
		name  string
		files fstest.MapFS
		err   error
	}{
		{"flow.yaml", fstest.MapFS{"flow.yaml": {Data: []byte(ok)}, "README.md": {}}, nil},
		{"flow.json", fstest.MapFS{"flow.json": {Data: []byte(ok)}}, nil},
		{"none", fstest.MapFS{"handler.go": {}}, flowfile.ErrNoFlowFile},
		{"two", fstest.MapFS{"flow.yaml": {Data: []byte(ok)}, "flow.json": {Data: []byte(ok)}}, flowfile.ErrNoFlowFile},
		{"invalid", fstest.MapFS{"flow.yml": {Data: []byte("StartAt: A\n")}}, flowfile.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := flowfile.LoadFS(c.files)
			if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
		})
	}
}

func TestDefineOfADefinitionNotParsedIsAnError(t *testing.T) {
	var def *flowfile.Definition
	for _, d := range []*flowfile.Definition{def, {}} {
		if err := d.Define(sdk.NewWorkflow(), nil); !errors.Is(err, flowfile.ErrInvalid) {
			t.Fatalf("error %v, want ErrInvalid", err)
		}
	}
}
