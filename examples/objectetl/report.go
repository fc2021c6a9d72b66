package function

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Fault is one entry of the fault report: a record that was rejected, a
// batch of records whose transformation failed, or (Record 0, no Batch)
// the whole file.
type Fault struct {
	// Record is the record's number in the file, 1 for the first (CSV:
	// the first line after the header; XML: the root's first child).
	Record int `json:"record"`
	// Line is the line the record starts on.
	Line int `json:"line,omitempty"`
	// Field names the field at fault, when one is.
	Field string `json:"field,omitempty"`
	// Batch names a batch that failed as a whole (records first-last).
	Batch string `json:"batch,omitempty"`
	// Records counts the records of a failed batch.
	Records int    `json:"records,omitempty"`
	Reason  string `json:"reason"`
}

// Report is the fault report written next to the result.
type Report struct {
	Input  Event  `json:"input"`
	Format string `json:"format,omitempty"`
	// FileRejected is true when the whole file could not be read; Faults
	// then holds one entry saying why.
	FileRejected bool `json:"fileRejected"`
	Counts
	Faults []Fault `json:"faults"`
}

// Counts are the records read, written, filtered out and rejected.
type Counts struct {
	Records  int `json:"records"`
	Accepted int `json:"accepted"`
	Filtered int `json:"filtered"`
	Rejected int `json:"rejected"`
}

// Summary is the flow's result.
type Summary struct {
	Status string `json:"status"`
	Input  string `json:"input"`
	Format string `json:"format,omitempty"`
	// Output and Faults name the objects written (bucket/key).
	Output string `json:"output,omitempty"`
	Faults string `json:"faults,omitempty"`
	Counts
}

// Summary statuses.
const (
	// StatusOK: the result was written (records may have been rejected).
	StatusOK = "ok"
	// StatusFileRejected: the file could not be read; only the fault
	// report was written.
	StatusFileRejected = "file-rejected"
	// StatusIgnored: the event was not about a created object.
	StatusIgnored = "ignored"
)

// OutputKey is the key of the JSON result of the object at key.
func OutputKey(key string) string { return key + ".json" }

// FaultsKey is the key of the fault report of the object at key.
func FaultsKey(key string) string { return key + ".faults.json" }

// batch is the input of one foreach branch.
type batch struct {
	Rules   Rules    `json:"rules"`
	Records []record `json:"records"`
}

// batchResult is the output of one branch.
type batchResult struct {
	Records  []json.RawMessage `json:"records"`
	Faults   []Fault           `json:"faults,omitempty"`
	Filtered int               `json:"filtered,omitempty"`
}

// merged is the output of the foreach's aggregator.
type merged struct {
	Records  []json.RawMessage `json:"records"`
	Faults   []Fault           `json:"faults,omitempty"`
	Filtered int               `json:"filtered,omitempty"`
}

// split is the foreach: one branch per BatchSize records, keyed by their
// first and last record numbers, which sort in file order.
func split(in []byte) map[string][]byte {
	var p plan
	if err := json.Unmarshal(in, &p); err != nil || p.BatchSize < 1 {
		return map[string][]byte{}
	}
	out := map[string][]byte{}
	for lo := 0; lo < len(p.Records); lo += p.BatchSize {
		hi := min(lo+p.BatchSize, len(p.Records))
		recs := p.Records[lo:hi]
		b, err := json.Marshal(batch{Rules: p.Rules, Records: recs})
		if err != nil {
			continue
		}
		out[fmt.Sprintf("records-%08d-%08d", recs[0].N, recs[len(recs)-1].N)] = b
	}
	return out
}

// transform applies the rules to a batch.
func transform(in []byte) ([]byte, error) {
	var b batch
	if err := json.Unmarshal(in, &b); err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	res := batchResult{Records: make([]json.RawMessage, 0, len(b.Records))}
	for _, rec := range b.Records {
		out, fault := b.Rules.apply(rec)
		switch {
		case fault != nil:
			res.Faults = append(res.Faults, *fault)
		case out == nil:
			res.Filtered++
		default:
			res.Records = append(res.Records, out)
		}
	}
	return json.Marshal(res)
}

// merge is the foreach's aggregator: the batches' results in file order,
// and a fault for each batch that failed.
func (s *steps) merge(results map[string][]byte) ([]byte, error) {
	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := merged{Records: []json.RawMessage{}}
	for _, k := range keys {
		var r batchResult
		if err := json.Unmarshal(results[k], &r); err != nil {
			return nil, fmt.Errorf("result of batch %s: %w", k, err)
		}
		m.Records = append(m.Records, r.Records...)
		m.Faults = append(m.Faults, r.Faults...)
		m.Filtered += r.Filtered
	}
	for _, f := range s.fctx.Faults() {
		var first, last int
		if _, err := fmt.Sscanf(f.Key, "records-%d-%d", &first, &last); err != nil {
			return nil, fmt.Errorf("failed batch %q: %w", f.Key, err)
		}
		n := 0
		if in, err := s.fctx.FaultInput(f); err == nil {
			var b batch
			if json.Unmarshal(in, &b) == nil {
				n = len(b.Records)
			}
		}
		m.Faults = append(m.Faults, Fault{Record: first, Batch: f.Key, Records: n, Reason: "transforming the batch failed: " + f.Error})
	}
	return json.Marshal(m)
}

// outcome builds the summary and the fault report of a request.
func outcome(src source, m merged, outBucket string) (Summary, []byte, error) {
	r := Report{Input: src.Event, Format: src.Format, Faults: append(append([]Fault{}, src.Faults...), m.Faults...)}
	if src.FileFault != "" {
		r.FileRejected = true
		r.Faults = []Fault{{Reason: src.FileFault}}
	}
	sort.SliceStable(r.Faults, func(i, j int) bool { return r.Faults[i].Record < r.Faults[j].Record })
	r.Records = src.Records
	r.Accepted = len(m.Records)
	r.Filtered = m.Filtered
	r.Rejected = r.Records - r.Accepted - r.Filtered
	report, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return Summary{}, nil, fmt.Errorf("fault report: %w", err)
	}
	sum := Summary{Status: StatusOK, Input: src.Event.Bucket + "/" + src.Event.Key, Format: src.Format,
		Output: outBucket + "/" + OutputKey(src.Event.Key), Faults: outBucket + "/" + FaultsKey(src.Event.Key), Counts: r.Counts}
	if r.FileRejected {
		sum.Status, sum.Output = StatusFileRejected, ""
	}
	return sum, report, nil
}

// recordsJSON is the result object: a JSON array, one record per line.
func recordsJSON(recs []json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n")
		b.Write(r)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}
