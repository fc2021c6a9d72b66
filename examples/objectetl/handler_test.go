package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statememory "github.com/faas-flow/faas-flow/statestore/memory"
)

// memObjects keeps objects in memory: the flow's own tests run inside a
// function build, where no object store is at hand. internal/integration
// and internal/e2e run the flow on a real MinIO and etcd.
type memObjects struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (o *memObjects) Get(_ context.Context, bucket, key string, max int64) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, ok := o.m[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("%s/%s: %w", bucket, key, ErrObjectNotFound)
	}
	if int64(len(b)) > max {
		return nil, ErrObjectTooLarge
	}
	return b, nil
}

func (o *memObjects) Put(_ context.Context, bucket, key string, data []byte, _ string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[bucket+"/"+key] = append([]byte(nil), data...)
	return nil
}

// wantCounts counts the sample orders' outcomes under SampleRules, from
// the samples' description.
func wantCounts(n int) (c Counts, rejectedRecords []int) {
	c.Records = n
	for i := 1; i <= n; i++ {
		switch {
		case i%4999 == 0, i%1009 == 0, i%997 == 0:
			c.Rejected++
			rejectedRecords = append(rejectedRecords, i)
		case i%13 == 0:
			c.Filtered++
		default:
			c.Accepted++
		}
	}
	return c, rejectedRecords
}

func newHarness(t *testing.T, objects Objects, rules string, maxSize int64) *flowtest.Harness {
	t.Helper()
	st := statememory.New()
	if rules != "" {
		// Written as etcdctl would: SaveRules refuses invalid rules.
		if _, _, err := st.Create(context.Background(), RulesKey("objectetl"), []byte(rules), 0); err != nil {
			t.Fatal(err)
		}
	}
	deps := &Deps{Objects: objects, Rules: st, Settings: Settings{OutputBucket: "outgoing", BatchSize: 1000, MaxObjectSize: maxSize}}
	h, err := flowtest.New(NewDefine(func(context.Context) (*Deps, error) { return deps, nil }), flowtest.WithFlowName("objectetl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func event(bucket, key string) []byte {
	b, _ := json.Marshal(Event{Bucket: bucket, Key: key, EventName: "s3:ObjectCreated:Put", EventTime: "2026-12-06T10:00:00Z"})
	return b
}

func TestTheFlowWritesTheResultAndTheFaultReportOfEachFile(t *testing.T) {
	const n = 6000
	objects := &memObjects{m: map[string][]byte{
		"incoming/orders/a.csv":    SampleCSV(n),
		"incoming/orders/b.xml":    SampleXML(n),
		"incoming/orders/cut.xml":  SampleBroken(),
		"incoming/orders/huge.csv": SampleCSV(40000), // over the 1 MiB limit below
	}}
	h := newHarness(t, objects, SampleRules, 1<<20)
	want, rejected := wantCounts(n)
	for _, tc := range []struct {
		key, status string
		counts      Counts
	}{
		{"orders/a.csv", StatusOK, want},
		{"orders/b.xml", StatusOK, want},
		{"orders/cut.xml", StatusFileRejected, Counts{}},
		{"orders/huge.csv", StatusFileRejected, Counts{}},
	} {
		t.Run(tc.key, func(t *testing.T) {
			res, err := h.Run(context.Background(), event("incoming", tc.key))
			if err != nil || res.State != "succeeded" {
				t.Fatalf("%v %s %s", err, res.State, res.Err)
			}
			var sum Summary
			if err := json.Unmarshal(res.Output, &sum); err != nil || sum.Status != tc.status || sum.Counts != tc.counts {
				t.Fatalf("summary %s: %v", res.Output, err)
			}
			var report Report
			if err := json.Unmarshal(objects.m["outgoing/"+FaultsKey(tc.key)], &report); err != nil {
				t.Fatalf("fault report: %v", err)
			}
			if tc.status == StatusFileRejected {
				if !report.FileRejected || len(report.Faults) != 1 || report.Faults[0].Reason == "" {
					t.Fatalf("report %+v", report)
				}
				if _, ok := objects.m["outgoing/"+OutputKey(tc.key)]; ok {
					t.Fatal("a result was written for a file that cannot be read")
				}
				return
			}
			checkReport(t, report, rejected)
			checkOutput(t, objects.m["outgoing/"+OutputKey(tc.key)], want.Accepted)
		})
	}
}

func checkReport(t *testing.T, r Report, rejected []int) {
	t.Helper()
	if r.FileRejected || len(r.Faults) != len(rejected) {
		t.Fatalf("%d faults, want %d", len(r.Faults), len(rejected))
	}
	for i, f := range r.Faults {
		if f.Record != rejected[i] || f.Line == 0 || f.Reason == "" {
			t.Fatalf("fault %d: %+v, want record %d", i, f, rejected[i])
		}
	}
}

func checkOutput(t *testing.T, b []byte, accepted int) {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil || len(out) != accepted {
		t.Fatalf("%d records (%v), want %d", len(out), err, accepted)
	}
	first := out[0]
	if first["id"] != 1.0 || first["customer_name"] != "customer-0001" || first["amount"] != 1.01 || first["paid"] != false || len(first) != 4 {
		t.Fatalf("first record %v", first)
	}
	for i := 1; i < len(out); i++ {
		if out[i]["id"].(float64) <= out[i-1]["id"].(float64) {
			t.Fatalf("records out of order at %d", i)
		}
	}
}

func TestRequestsTheFlowCannotActOn(t *testing.T) {
	objects := &memObjects{m: map[string][]byte{}}
	for _, tc := range []struct {
		name, rules string
		body        []byte
		state, want string
	}{
		{"not JSON", "", []byte("incoming/x.csv"), "failed", "bad object event"},
		{"no key", "", []byte(`{"bucket":"incoming"}`), "failed", "bucket and key are required"},
		{"missing object", "", event("incoming", "nothing.csv"), "failed", "object not found"},
		{"invalid rules", `{"convert":{"id":"date"}}`, event("incoming", "x.csv"), "failed", "invalid transformation rules"},
		{"a delete event", "", []byte(`{"bucket":"incoming","key":"x.csv","eventName":"s3:ObjectRemoved:Delete"}`), "succeeded", `"status":"ignored"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objects.m["incoming/x.csv"] = SampleCSV(10)
			h := newHarness(t, objects, tc.rules, 1<<20)
			res, err := h.Run(context.Background(), tc.body)
			if err != nil || res.State != tc.state || !strings.Contains(res.Err+string(res.Output), tc.want) {
				t.Fatalf("%v %s %q %s", err, res.State, res.Output, res.Err)
			}
		})
	}
}

func TestRulesTransformARecord(t *testing.T) {
	rec := record{N: 7, Line: 8, Fields: []field{{"id", "7"}, {"name", "Ann"}, {"amount", "2.5"}, {"note", ""}}}
	for _, tc := range []struct {
		name, rules, want, fault string
	}{
		{"no rules keep strings", `{}`, `{"id":"7","name":"Ann","amount":"2.5","note":""}`, ""},
		{"convert", `{"convert":{"id":"int","amount":"number"}}`, `{"id":7,"name":"Ann","amount":2.5,"note":""}`, ""},
		{"rename and drop", `{"rename":{"name":"customer"},"drop":["note"]}`, `{"id":"7","customer":"Ann","amount":"2.5"}`, ""},
		{"required present", `{"required":["id","name"]}`, `{"id":"7","name":"Ann","amount":"2.5","note":""}`, ""},
		{"required empty", `{"required":["note"]}`, "", "note: required field is missing or empty"},
		{"required missing", `{"required":["zip"]}`, "", "zip: required field is missing or empty"},
		{"conversion fails", `{"convert":{"name":"int"}}`, "", `name: "Ann" is not an integer`},
		{"filter keeps", `{"filter":[{"field":"amount","op":"gt","value":"2"}]}`, `{"id":"7","name":"Ann","amount":"2.5","note":""}`, ""},
		{"filter drops", `{"filter":[{"field":"name","op":"eq","value":"Bob"}]}`, "", ""},
		{"numeric filter on text drops", `{"filter":[{"field":"name","op":"lt","value":"3"}]}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRules([]byte(tc.rules))
			if err != nil {
				t.Fatal(err)
			}
			out, fault := r.apply(rec)
			got := ""
			if fault != nil {
				got = fault.Field + ": " + fault.Reason
				if fault.Record != 7 || fault.Line != 8 {
					t.Fatalf("fault %+v", fault)
				}
			}
			if string(out) != tc.want || got != tc.fault {
				t.Fatalf("got %s / %q, want %s / %q", out, got, tc.want, tc.fault)
			}
		})
	}
}

func TestRulesThatCannotBeAppliedAreRefused(t *testing.T) {
	for _, rules := range []string{
		`{"convert":{"a":"date"}}`, `{"filter":[{"field":"a","op":"like"}]}`, `{"filter":[{"op":"eq"}]}`,
		`{"rename":{"a":""}}`, `{"requird":["a"]}`, `[1]`, `{} {}`, `{"required":"a"}`,
	} {
		if _, err := ParseRules([]byte(rules)); !errors.Is(err, ErrInvalidRules) {
			t.Errorf("%s: %v", rules, err)
		}
	}
}

func TestFilesThatCannotBeReadBecomeOneFault(t *testing.T) {
	for _, tc := range []struct {
		name, key, data, reason string
	}{
		{"empty", "a.csv", "  \n", "empty"},
		{"binary", "a.csv", "id,x\n1,\x00\x01", "not text"},
		{"not UTF-8", "a.xml", "<a>\xff</a>", "not text"},
		{"unknown format", "a.bin", "hello", "neither CSV nor XML"},
		{"repeated header", "a.csv", "id,id\n1,2\n", "repeated name"},
		{"empty header name", "a.csv", "id,,x\n1,2,3\n", "empty or repeated"},
		{"truncated XML", "a.xml", string(SampleBroken()), "not well-formed"},
		{"two roots", "a.xml", "<a></a><b></b>", "second root"},
		{"no root", "a.xml", "<?xml version=\"1.0\"?>", "no root"},
		{"unclosed tag", "a", "<a><b>1</c></a>", "not well-formed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, faults, _, fileFault := read(tc.key, []byte(tc.data))
			if !strings.Contains(fileFault, tc.reason) || recs != nil || faults != nil {
				t.Fatalf("file fault %q, %d records, %d faults", fileFault, len(recs), len(faults))
			}
		})
	}
}

func TestRecordsThatCannotBeReadBecomeFaultsWithTheirLine(t *testing.T) {
	for _, tc := range []struct {
		name, key, data string
		records         []int
		faults          []Fault
	}{
		{"CSV field count", "a.csv", "a,b\n1,2\n3\n4,5\n", []int{1, 3},
			[]Fault{{Record: 2, Line: 3, Reason: "1 fields, the header has 2"}}},
		{"CSV bad quote", "a.csv", "a,b\n1,2\n3,x\"y\n4,5\n", []int{1, 3},
			[]Fault{{Record: 2, Line: 3, Reason: "not valid CSV: bare \" in non-quoted-field"}}},
		{"CSV by content", "a", "a,b\n1,2\n", []int{1}, nil},
		{"XML nested field", "a.xml", "<r>\n<o a=\"1\"/>\n<o><b><c/></b></o>\n<o><b>2</b></o>\n</r>", []int{1, 3},
			[]Fault{{Record: 2, Line: 3, Field: "b", Reason: "field <b> holds an element <c>"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, faults, _, fileFault := read(tc.key, []byte(tc.data))
			if fileFault != "" {
				t.Fatal(fileFault)
			}
			var got []int
			for _, r := range recs {
				got = append(got, r.N)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.records) || fmt.Sprint(faults) != fmt.Sprint(tc.faults) {
				t.Fatalf("records %v faults %+v", got, faults)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	for _, tc := range []struct {
		body    string
		created bool
		err     bool
	}{
		{`{"bucket":"incoming","key":"orders/2026-12-06.csv","size":123,"etag":"e","versionId":"v","eventName":"s3:ObjectCreated:Put","eventTime":"t"}`, true, false},
		{`{"bucket":"incoming","key":"a.csv"}`, true, false},
		{`{"bucket":"incoming","key":"a.csv","eventName":"s3:ObjectRemoved:Delete"}`, false, false},
		{`{"bucket":"incoming"}`, false, true},
		{`{"bucket":"incoming","key":"a","size":-1}`, false, true},
		{`{"bucket":"incoming","key":"a"} x`, false, true},
		{`not json`, false, true},
	} {
		e, err := ParseEvent([]byte(tc.body))
		if (err != nil) != tc.err || (err == nil && e.Created() != tc.created) {
			t.Errorf("%s: %+v %v", tc.body, e, err)
		}
		if err != nil && !errors.Is(err, ErrBadEvent) {
			t.Errorf("%s: %v does not wrap ErrBadEvent", tc.body, err)
		}
	}
}

func TestAFailedBatchBecomesAFaultOfItsRecords(t *testing.T) {
	fctx := faasflow.NewContext(context.Background(), "objectetl", "r1", nil, nil)
	fctx.SetFaults([]faasflow.Fault{{Key: "records-00000001-00001000", Error: "node timed out"}})
	ok, _ := json.Marshal(batchResult{Records: []json.RawMessage{json.RawMessage(`{"id":1001}`)}})
	out, err := (&steps{fctx: fctx}).merge(map[string][]byte{"records-00001001-00001001": ok})
	if err != nil {
		t.Fatal(err)
	}
	var m merged
	if err := json.Unmarshal(out, &m); err != nil || len(m.Records) != 1 || len(m.Faults) != 1 ||
		m.Faults[0].Record != 1 || m.Faults[0].Batch != "records-00000001-00001000" || !strings.Contains(m.Faults[0].Reason, "node timed out") {
		t.Fatalf("%s %v", out, err)
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"bucket":"incoming","key":"a.csv","size":1}`))
	f.Add([]byte(`{"bucket":"","key":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := ParseEvent(b); err == nil && (e.Bucket == "" || e.Key == "") {
			t.Fatalf("accepted %+v", e)
		}
	})
}

func FuzzRead(f *testing.F) {
	f.Add("a.csv", []byte("a,b\n1,2\n\"x\n"))
	f.Add("a.xml", []byte("<r><o a=\"1\"><b>2</b></o></r>"))
	f.Add("a", []byte("<r><o><b><c/></b></o>"))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		recs, faults, _, fileFault := read(key, data)
		if fileFault != "" && (recs != nil || faults != nil) {
			t.Fatalf("a file fault with records")
		}
		for _, r := range recs {
			if r.N < 1 {
				t.Fatalf("record number %d", r.N)
			}
		}
	})
}

func FuzzParseRules(f *testing.F) {
	f.Add([]byte(SampleRules))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRules(b)
		if err != nil {
			return
		}
		_, _ = r.apply(record{N: 1, Fields: []field{{"id", "1"}, {"amount", "x"}}})
	})
}
