package flowfile_test

import (
	"context"
	"errors"
	"testing"

	"github.com/faas-flow/faas-flow/flowfile"
	"github.com/faas-flow/faas-flow/sdk"
)

// FuzzParse proves that any file either is refused with a *flowfile.Error
// or defines a flow the sdk accepts, and that parsing never panics.
func FuzzParse(f *testing.F) {
	for _, src := range []string{sequenceFlow, parallelFlow, choiceFlow, mapFlow, retryFlow, payloadFlow,
		`{"StartAt":"A","States":{"A":{"Type":"Pass","Result":[1,{"a":null}],"End":true}}}`,
		"StartAt: A\nStates:\n  A: {Type: Pass, Next: A}\n",
		"StartAt: &x A\nStates:\n  *x : {Type: Succeed}\n",
	} {
		f.Add([]byte(src))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := flowfile.Parse("fuzz.yaml", data)
		if err != nil {
			var fe *flowfile.Error
			if !errors.As(err, &fe) || !errors.Is(err, flowfile.ErrInvalid) || fe.File != "fuzz.yaml" {
				t.Fatalf("error %v (%T) is not a *flowfile.Error", err, err)
			}
			return
		}
		flow := sdk.NewWorkflow()
		if err := def.Define(flow, sdk.NewContext(context.Background(), "fuzz", "fuzz", nil, nil)); err != nil {
			t.Fatalf("Define of an accepted file: %v", err)
		}
		if err := flow.Validate(); err != nil {
			t.Fatalf("an accepted file defines an invalid flow: %v\n%s", err, data)
		}
	})
}
