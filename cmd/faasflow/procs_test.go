package main

import (
	"flag"
	"io"
	"testing"
)

func TestProcsFlagIsOneOnSmallMachinesUnlessSet(t *testing.T) {
	tests := []struct {
		args    []string
		cpus    int
		want    int
		wantErr bool
	}{
		{nil, 1, 1, false},
		{nil, 2, 1, false},
		{nil, 8, 0, false},
		{[]string{"--procs", "auto"}, 2, 1, false},
		{[]string{"--procs", "0"}, 2, 0, false},
		{[]string{"--procs", "3"}, 2, 3, false},
		{[]string{"--procs", "-1"}, 2, 0, true},
		{[]string{"--procs", "many"}, 2, 0, true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var p procsFlag
		p.register(fs)
		err := fs.Parse(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: parse error %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err == nil {
			if got := p.value(tt.cpus); got != tt.want {
				t.Errorf("%v on %d CPUs = %d, want %d", tt.args, tt.cpus, got, tt.want)
			}
		}
	}
}

func TestProcsFlagSetsTheProcessOnlyWhenItHasAValue(t *testing.T) {
	var set []int
	e := env{setProcs: func(n int) { set = append(set, n) }}
	for _, n := range []int{0, 2} {
		p := procsFlag{n: n}
		if got := p.apply(e); got != n {
			t.Errorf("apply() = %d, want %d", got, n)
		}
	}
	if len(set) != 1 || set[0] != 2 {
		t.Errorf("GOMAXPROCS set to %v, want only [2] (0 keeps Go's default)", set)
	}
	if got := (&procsFlag{n: 2}).apply(env{}); got != 2 {
		t.Errorf("apply without a setter = %d, want 2 for the functions", got)
	}
	set = nil
	withEnv := env{setProcs: e.setProcs, getenv: func(k string) string { return map[string]string{"GOMAXPROCS": "4"}[k] }}
	if got := (&procsFlag{n: -1}).apply(withEnv); got != 0 || len(set) != 0 {
		t.Errorf("auto with $GOMAXPROCS set: apply() = %d and set %v; want 0 and nothing set (the environment applies)", got, set)
	}
	if got := (&procsFlag{n: 1}).apply(withEnv); got != 1 || len(set) != 1 {
		t.Errorf("--procs 1 with $GOMAXPROCS set: apply() = %d and set %v; want the flag to win", got, set)
	}
}
