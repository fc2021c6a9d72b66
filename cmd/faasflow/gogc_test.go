package main

import "testing"

func TestGOGCFlagSetsTheGatewaysPercentAndReturnsTheFunctions(t *testing.T) {
	tests := []struct {
		name    string
		flag    string // "" leaves the default (auto)
		envGOGC string
		wantSet int // the gateway's percent set; 0: left alone
		wantFn  int // the functions' GOGC; 0: left to Go or their environment
	}{
		{"auto is 400 for both", "", "", defaultGOGC, defaultGOGC},
		{"auto leaves everything to $GOGC when it is set", "", "150", 0, 0},
		{"an explicit percent wins over $GOGC", "100", "150", 100, 100},
		{"an explicit percent", "800", "", 800, 800},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g gcFlag
			g.n = -1
			if tt.flag != "" {
				if err := g.Set(tt.flag); err != nil {
					t.Fatal(err)
				}
			}
			set := 0
			e := env{getenv: func(k string) string {
				if k == "GOGC" {
					return tt.envGOGC
				}
				return ""
			}, setGCPercent: func(n int) { set = n }}
			if fn := g.apply(e); fn != tt.wantFn || set != tt.wantSet {
				t.Fatalf("apply: functions %d, gateway set to %d; want %d, %d", fn, set, tt.wantFn, tt.wantSet)
			}
		})
	}
}

func TestGOGCFlagRefusesWhatIsNotAPercent(t *testing.T) {
	for _, v := range []string{"0", "-5", "off", "4x"} {
		var g gcFlag
		if err := g.Set(v); err == nil {
			t.Errorf("--gogc %s accepted", v)
		}
	}
}
