// Package function is a foreach flow for the end-to-end tests of redrive
// and tolerated failures: each comma-separated item of the input becomes a
// branch whose output (70 KB, so that it lives in the data store) fails
// while a file named after the item exists in the directory break_dir.
package function

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define builds each (item: work, tolerating one failed item) -> wrap.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	each := dag.ForEachBranch("each", split, faasflow.ToleratedFailures(1),
		faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
			keys := make([]string, 0, len(m))
			for k, v := range m {
				keys = append(keys, fmt.Sprintf("%s:%d", k, len(v)))
			}
			sort.Strings(keys)
			faults := make([]string, 0, len(context.Faults()))
			for _, f := range context.Faults() {
				faults = append(faults, f.Key)
			}
			sort.Strings(faults)
			return []byte(strings.Join(keys, ",") + " faults=" + strings.Join(faults, ",")), nil
		}))
	each.Node("work").Modify(func(item []byte) ([]byte, error) {
		if _, err := os.Stat(filepath.Join(os.Getenv("break_dir"), string(item))); err == nil {
			return nil, errors.New("item " + string(item) + " is broken")
		}
		return bytes.Repeat(item, 70<<10/len(item)), nil
	})
	dag.Node("wrap").Modify(func(in []byte) ([]byte, error) { return append([]byte("<"), append(in, '>')...), nil })
	dag.Edge("each", "wrap")
	return nil
}

func split(in []byte) map[string][]byte {
	out := map[string][]byte{}
	for _, item := range strings.Split(string(in), ",") {
		if item != "" {
			out[item] = []byte(item)
		}
	}
	return out
}
