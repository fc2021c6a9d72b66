package flowfile_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

const payloadFlow = `
StartAt: Prepare
States:
  Prepare:
    Type: Pass
    Parameters:
      order.$: $.order.id
      customer: {name.$: $.customer, tier: gold}
      fixed: [1, two]
    ResultPath: $.request
    Next: Shout
  Shout:
    Type: Task
    Resource: function:upper
    InputPath: $.request
    Parameters: {text.$: $.customer.name}
    ResultSelector: {shouted.$: $.TEXT}
    ResultPath: $.result
    Next: Audit
  Audit:
    Type: Task
    Resource: function:upper
    ResultPath: null
    OutputPath: $.result
    End: true
`

func TestParametersResultSelectorAndResultPathShapeTheData(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			spy := func(in []byte) ([]byte, error) {
				mu.Lock()
				seen = append(seen, string(in))
				mu.Unlock()
				return upper(in)
			}
			h := harness(t, payloadFlow, m.chaos, map[string]flowtest.Function{"upper": spy})
			want(t, run(t, h, `{"order":{"id":7},"customer":"ada"}`), "succeeded", `{"shouted":"ADA"}`)
			mu.Lock()
			defer mu.Unlock()
			if seen[0] != `{"text":"ada"}` {
				t.Fatalf("the first Task got %q, want its Parameters", seen)
			}
			if !strings.Contains(seen[len(seen)-1], `"request":{"customer":{"name":"ada","tier":"gold"},"fixed":[1,"two"],"order":7}`) ||
				!strings.Contains(seen[len(seen)-1], `"result":{"shouted":"ADA"}`) {
				t.Fatalf("the second Task got %q, want the input with the request and result placed in it", seen[len(seen)-1])
			}
		})
	}
}

func TestResultPathOnAnInputThatIsNotAnObjectFails(t *testing.T) {
	const flow = `
StartAt: Call
States:
  Call: {Type: Task, Resource: "function:upper", ResultPath: $.out, End: true}
`
	h := harness(t, flow, nil, map[string]flowtest.Function{"upper": upper})
	want(t, run(t, h, `{"in":"a"}`), "succeeded", `{"in":"a","out":{"IN":"A"}}`)
	res := run(t, h, `["not","an","object"]`)
	if res.State != "failed" || !strings.Contains(res.Err, "States.Runtime: ResultPath $.out: the input is not a JSON object") {
		t.Fatalf("%s %q", res.State, res.Err)
	}
}
