package testflow

import (
	"maps"
	"slices"
	"strings"

	"github.com/faas-flow/faas-flow/sdk"
)

// JoinSorted aggregates inputs as "k1=v1,k2=v2", in key order, so that an
// aggregator's output does not depend on the order the inputs arrived in.
func JoinSorted(in map[string][]byte) ([]byte, error) {
	parts := make([]string, 0, len(in))
	for _, k := range slices.Sorted(maps.Keys(in)) {
		parts = append(parts, k+"="+string(in[k]))
	}
	return []byte(strings.Join(parts, ",")), nil
}

// SplitComma is a foreach split: one branch per non-empty comma-separated
// item of the input, keyed and fed by the item.
func SplitComma(in []byte) map[string][]byte {
	out := map[string][]byte{}
	for _, p := range strings.Split(string(in), ",") {
		if p != "" {
			out[p] = []byte(p)
		}
	}
	return out
}

// AppendMod returns a modifier that appends s to its input (in a new
// slice).
func AppendMod(s string) sdk.Modifier {
	return func(in []byte) ([]byte, error) { return append(append([]byte(nil), in...), s...), nil }
}
