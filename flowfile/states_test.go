package flowfile_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

const choiceFlow = `
StartAt: Route
States:
  Route:
    Type: Choice
    Choices:
      - And:
          - {Variable: $.order.total, IsPresent: true}
          - {Variable: $.order.total, NumericGreaterThan: 100}
          - {Variable: $.order.vip, BooleanEquals: true}
        Next: Big
      - Or:
          - Not: {Variable: $.order.total, IsPresent: true}
          - {Variable: $.order.kind, StringEquals: gift}
        Next: Wrap
      - {Variable: $.order.total, NumericLessThanEquals: 0, Next: Refuse}
    Default: Done
  Big:
    Type: Pass
    Result: {size: big}
    Next: Done
  Wrap:
    Type: Task
    Resource: function:upper
    Next: Done
  Refuse:
    Type: Fail
    Error: Order.Empty
    Cause: the total is not positive
  Done:
    Type: Task
    Resource: function:reverse
    End: true
`

func TestChoiceTakesTheFirstMatchingRuleThenJoins(t *testing.T) {
	fns := map[string]flowtest.Function{"upper": upper, "reverse": reverse}
	cases := []struct {
		name, input, state, output, err string
	}{
		{"And matches", `{"order":{"total":150,"vip":true}}`, "succeeded", `}"gib":"ezis"{`, ""},
		{"Or matches by StringEquals", `{"order":{"total":150,"vip":false,"kind":"gift"}}`, "succeeded", `}}"TFIG":"DNIK",ESLAF:"PIV",051:"LATOT"{:"REDRO"{`, ""},
		{"Or matches by Not IsPresent", `{"order":{}}`, "succeeded", `}}{:"REDRO"{`, ""},
		{"a rule leads to a Fail state", `{"order":{"total":0,"kind":"box"}}`, "failed", "", "Order.Empty: the total is not positive"},
		{"Default", `{"order":{"total":50,"kind":"box"}}`, "succeeded", `}}"xob":"dnik",05:"latot"{:"redro"{`, ""},
		{"a Variable that selects nothing fails", `{"order":{"total":50}}`, "failed", "", "States.Runtime: Choices[1]: StringEquals: $.order.kind"},
		{"input that is not JSON fails", `total`, "failed", "", "States.Runtime"},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := harness(t, choiceFlow, m.chaos, fns)
			for _, c := range cases {
				res := run(t, h, c.input)
				want(t, res, c.state, c.output)
				if !strings.Contains(res.Err, c.err) {
					t.Fatalf("%s: error %q, want it to contain %q", c.name, res.Err, c.err)
				}
			}
		})
	}
}

func TestChoiceWithoutDefaultFailsWhenNoRuleMatches(t *testing.T) {
	const flow = `
StartAt: Route
States:
  Route:
    Type: Choice
    Choices:
      - {Variable: $.n, NumericEquals: 1, Next: One}
  One: {Type: Succeed}
`
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := harness(t, flow, m.chaos, nil)
			want(t, run(t, h, `{"n":1}`), "succeeded", `{"n":1}`)
			res := run(t, h, `{"n":2}`)
			want(t, res, "failed", "")
			if !strings.Contains(res.Err, "States.NoChoiceMatched") {
				t.Fatalf("error %q", res.Err)
			}
			res = run(t, h, `{"m":2}`)
			if res.State != "failed" || !strings.Contains(res.Err, "States.Runtime") || !strings.Contains(res.Err, "$.n") {
				t.Fatalf("a Variable that selects nothing: %s %q", res.State, res.Err)
			}
		})
	}
}

const mapFlow = `
StartAt: Each
States:
  Each:
    Type: Map
    ItemsPath: $.words
    MaxConcurrency: 2
    ToleratedFailureCount: 1
    ItemProcessor:
      StartAt: Shout
      States:
        Shout: {Type: Task, Resource: "function:shout", End: true}
    End: true
`

func TestMapRunsItemsWithMaxConcurrencyAndToleratesFailures(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var mu sync.Mutex
			running, peak := 0, 0
			shout := func(in []byte) ([]byte, error) {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				defer func() { mu.Lock(); running--; mu.Unlock() }()
				if strings.Contains(string(in), "bad") {
					return nil, errors.New("500 cannot shout that")
				}
				out, _ := flowtest.Sleep(5e6)(in)
				return upper(out)
			}
			h := harness(t, mapFlow, m.chaos, map[string]flowtest.Function{"shout": shout})
			want(t, run(t, h, `{"words":["a","b","c","d","e","f"]}`), "succeeded", `["A","B","C","D","E","F"]`)
			if m.chaos == nil && peak != 2 {
				t.Fatalf("at most %d items ran at once, want 2", peak)
			}
			want(t, run(t, h, `{"words":["a","bad","c"]}`), "succeeded", `["A",null,"C"]`)
			if res := run(t, h, `{"words":["bad","a","bad"]}`); res.State != "failed" {
				t.Fatalf("two failures of one tolerated: %s %q", res.State, res.Output)
			}
			want(t, run(t, h, `{"words":[]}`), "succeeded", `[]`)
			if res := run(t, h, `{"words":"a"}`); res.State != "failed" || !strings.Contains(res.Err, "does not select an array") {
				t.Fatalf("items that are not an array: %s %q", res.State, res.Err)
			}
		})
	}
}

const retryFlow = `
StartAt: Call
States:
  Call:
    Type: Task
    Resource: function:flaky
    TimeoutSeconds: 5
    Retry:
      - ErrorEquals: [States.TaskFailed]
        IntervalSeconds: 1
        MaxAttempts: 2
        BackoffRate: 1
    End: true
`

func TestRetryRetriesAFailingTaskUpToMaxAttempts(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := map[string]int{}
			// flaky fails as many times as its input says before it answers.
			flaky := func(in []byte) ([]byte, error) {
				mu.Lock()
				defer mu.Unlock()
				calls[string(in)]++
				if fails := int(in[0] - '0'); calls[string(in)] <= fails {
					return nil, errors.New("503 try again")
				}
				return []byte("ok"), nil
			}
			h := harness(t, retryFlow, m.chaos, map[string]flowtest.Function{"flaky": flaky})
			res := run(t, h, "2")
			want(t, res, "succeeded", "ok")
			if m.chaos == nil && h.Calls("flaky") != 3 {
				t.Fatalf("%d calls, want 3", h.Calls("flaky"))
			}
			res = run(t, h, "3")
			if res.State != "failed" || !strings.Contains(res.Err, "503 try again") {
				t.Fatalf("three failures, two retries: %s %q", res.State, res.Err)
			}
		})
	}
}

func TestRetryOnTimeoutDoesNotRetryOtherErrors(t *testing.T) {
	flow := strings.Replace(retryFlow, "[States.TaskFailed]", "[States.Timeout]", 1)
	calls := 0
	var mu sync.Mutex
	fail := func([]byte) ([]byte, error) { mu.Lock(); calls++; mu.Unlock(); return nil, errors.New("500 broken") }
	h := harness(t, flow, nil, map[string]flowtest.Function{"flaky": fail})
	if res := run(t, h, "x"); res.State != "failed" || calls != 1 {
		t.Fatalf("%s after %d calls, want failed after 1", res.State, calls)
	}
}

func TestFailStateFailsTheRequestWithItsErrorAndCause(t *testing.T) {
	const flow = `
StartAt: Check
States:
  Check: {Type: Task, Resource: "function:upper", Next: Stop}
  Stop: {Type: Fail, Error: Check.Refused, Cause: the input was refused}
`
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := harness(t, flow, m.chaos, map[string]flowtest.Function{"upper": upper})
			res := run(t, h, "x")
			if res.State != "failed" || !strings.Contains(res.Err, "state Stop: Check.Refused: the input was refused") {
				t.Fatalf("%s %q", res.State, res.Err)
			}
		})
	}
}

func TestInputPathAndOutputPathSelectPartsOfTheData(t *testing.T) {
	const flow = `
StartAt: Pick
States:
  Pick:
    Type: Task
    Resource: function:upper
    InputPath: $.order.items[1]
    Next: Wrap
  Wrap:
    Type: Pass
    Result: {wrapped: {value: 42, list: [a, b]}}
    OutputPath: $.wrapped.list
    Next: Fan
  Fan:
    Type: Parallel
    InputPath: $[0]
    OutputPath: $[1]
    Branches:
      - {StartAt: A, States: {A: {Type: Pass, Result: first, End: true}}}
      - {StartAt: B, States: {B: {Type: Task, Resource: "function:upper", End: true}}}
    End: true
`
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
			h := harness(t, flow, m.chaos, map[string]flowtest.Function{"upper": spy})
			want(t, run(t, h, `{"order":{"items":["x",{"name":"pen"}]}}`), "succeeded", `"A"`)
			mu.Lock()
			defer mu.Unlock()
			if seen[0] != `{"name":"pen"}` {
				t.Fatalf("the Task got %q, want what InputPath selects", seen)
			}
			if res := run(t, h, `{"order":{}}`); res.State != "failed" || !strings.Contains(res.Err, "States.Runtime: path $.order.items[1] selects no value") {
				t.Fatalf("an InputPath that selects nothing: %s %q", res.State, res.Err)
			}
		})
	}
}

func TestMapToleratesAPercentageOfFailedItems(t *testing.T) {
	flow := strings.Replace(mapFlow, "ToleratedFailureCount: 1", "ToleratedFailurePercentage: 50", 1)
	flow = strings.Replace(flow, "ItemsPath: $.words", "ItemsPath: $", 1)
	shout := func(in []byte) ([]byte, error) {
		if strings.Contains(string(in), "bad") {
			return nil, errors.New("500 no")
		}
		return upper(in)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := harness(t, flow, m.chaos, map[string]flowtest.Function{"shout": shout})
			want(t, run(t, h, `["bad","a","b","bad"]`), "succeeded", `[null,"A","B",null]`)
			if res := run(t, h, `["bad","bad","a"]`); res.State != "failed" {
				t.Fatalf("two of three failed, 50%% tolerated: %s %q", res.State, res.Output)
			}
		})
	}
}
