package main

import (
	"flag"
	"io"
	"testing"
)

func TestUpBuilderFlagsSetTheBuilderLimits(t *testing.T) {
	tests := []struct {
		args      []string
		wantBuild int
		wantBytes int64
	}{
		{nil, 2, 256 << 20},
		{[]string{"--max-builds", "5"}, 5, 256 << 20},
		{[]string{"--max-build-size", "64MiB"}, 2, 64 << 20},
		{[]string{"--max-builds", "1", "--max-build-size", "1048576"}, 1, 1 << 20},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var f upFlags
		f.register(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if f.o.MaxConcurrentBuilds != tt.wantBuild || f.o.MaxBuildBytes != tt.wantBytes {
			t.Errorf("%v: builds %d, bytes %d; want %d and %d", tt.args,
				f.o.MaxConcurrentBuilds, f.o.MaxBuildBytes, tt.wantBuild, tt.wantBytes)
		}
	}
}
