package gateway

import (
	"strings"
	"testing"
)

// TestSyncInvokeCarriesBodiesOfEverySizeUnchanged covers both ways forward
// sends a body: read into memory (up to smallBody) and streamed.
func TestSyncInvokeCarriesBodiesOfEverySizeUnchanged(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-bodies"})
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"small", 300},
		{"largest read into memory", smallBody},
		{"smallest streamed", smallBody + 1},
		{"several copy buffers", 200 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Repeat("abcdefghij", tt.size/10+1)[:tt.size]
			r := do(t, "POST", l.URL()+"/function/f-bodies/path", body, nil)
			if want := "POST /path? " + body; r.code != 200 || r.body != want {
				t.Fatalf("got %d, %d bytes (%.60q); want 200 and the %d-byte body echoed", r.code, len(r.body), r.body, tt.size)
			}
		})
	}
}
