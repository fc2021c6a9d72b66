package gateway

import (
	"math"
	"strconv"
	"strings"
)

// memoryUnits are the suffixes of a Kubernetes quantity, longest first so
// that "Mi" is tried before "M".
var memoryUnits = []struct {
	suffix string
	factor float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
}

// MemoryLimit is the number of bytes of a memory limit written as a
// Kubernetes quantity ("256Mi", "1Gi", "512M", "1.5Gi", "1e9",
// "268435456"). ok is false when v is empty, not a quantity, or not more
// than zero.
func MemoryLimit(v string) (bytes int64, ok bool) {
	v = strings.TrimSpace(v)
	factor := 1.0
	for _, u := range memoryUnits {
		if n, cut := strings.CutSuffix(v, u.suffix); cut {
			v, factor = n, u.factor
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	b := math.Ceil(f * factor)
	if b < 1 || b > math.MaxInt64/2 {
		return 0, false
	}
	return int64(b), true
}

// GoMemLimit is the GOMEMLIMIT a Go function gets from its memory limit of
// limit bytes: 90% of it, so that the Go runtime collects garbage harder
// before the process reaches the limit and is killed.
func GoMemLimit(limit int64) string {
	return strconv.FormatInt(limit/10*9, 10)
}
