// Package function is the "etl" example: a pipeline that moves a
// multi-megabyte payload between nodes. Payloads larger than the inline limit
// travel through the data store (a local directory, or MinIO/S3) instead of
// inside the hop.
package function

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define extracts a generated CSV of N rows (input "rows=N", default
// 100000, about 2 MB), splits it into four partitions processed in parallel
// by the csv-stats function, and loads a JSON summary.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("extract").Modify(func(in []byte) ([]byte, error) {
		rows := 100000
		if s := strings.TrimPrefix(strings.TrimSpace(string(in)), "rows="); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 5000000 {
				return nil, faasflow.Permanent(fmt.Errorf("input must be rows=N with 1 <= N <= 5000000, got %q", in))
			}
			rows = n
		}
		var b bytes.Buffer
		b.Grow(rows * 20)
		b.WriteString("id,value\n")
		for i := 0; i < rows; i++ {
			fmt.Fprintf(&b, "%d,%d\n", i, i%1000)
		}
		return b.Bytes(), nil
	})
	parts := dag.ForEachBranch("transform", func(in []byte) map[string][]byte {
		lines := bytes.Split(bytes.TrimSpace(in), []byte("\n"))[1:]
		out := map[string][]byte{}
		const n = 4
		for p := 0; p < n; p++ {
			lo, hi := len(lines)*p/n, len(lines)*(p+1)/n
			out[fmt.Sprintf("part-%d", p)] = bytes.Join(lines[lo:hi], []byte("\n"))
		}
		return out
	}, faasflow.Aggregator(func(results map[string][]byte) ([]byte, error) {
		var total struct{ Rows, Sum int64 }
		for k, v := range results {
			var s struct{ Rows, Sum int64 }
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("partition %s: %w", k, err)
			}
			total.Rows += s.Rows
			total.Sum += s.Sum
		}
		return json.Marshal(total)
	}))
	parts.Node("stats").Apply("csv-stats")
	dag.Node("load").Modify(func(in []byte) ([]byte, error) {
		var t struct{ Rows, Sum int64 }
		if err := json.Unmarshal(in, &t); err != nil {
			return nil, err
		}
		return []byte(fmt.Sprintf(`{"rows":%d,"sum":%d}`, t.Rows, t.Sum)), nil
	})
	dag.Edge("extract", "transform")
	dag.Edge("transform", "load")
	return nil
}
