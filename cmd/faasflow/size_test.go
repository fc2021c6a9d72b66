package main

import "testing"

func TestSizeFlagReadsBytesAndBinaryUnits(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		text    string
		wantErr bool
	}{
		{"1048576", 1 << 20, "1MiB", false},
		{"32MiB", 32 << 20, "32MiB", false},
		{"512KiB", 512 << 10, "512KiB", false},
		{"2GiB", 2 << 30, "2GiB", false},
		{"1000", 1000, "1000", false},
		{"0", 0, "", true},
		{"-1MiB", 0, "", true},
		{"12MB", 0, "", true},
		{"MiB", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var s sizeFlag
			err := s.Set(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && (int64(s) != tt.want || s.String() != tt.text) {
				t.Fatalf("Set(%q) = %d (%s), want %d (%s)", tt.in, int64(s), s.String(), tt.want, tt.text)
			}
		})
	}
}
