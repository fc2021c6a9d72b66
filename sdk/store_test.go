package sdk

import (
	"errors"
	"testing"
)

func TestCheckTxnRejectsUnknownOpsAndDoubleWrites(t *testing.T) {
	tests := []struct {
		name    string
		ops     []TxnOp
		writes  int
		invalid bool
	}{
		{"empty", nil, 0, false},
		{"reads only", []TxnOp{TxnGet("a"), TxnCount("p/"), TxnGet("a")}, 0, false},
		{"reads and writes of distinct keys", []TxnOp{TxnSwap("a", 1, nil, 0), TxnGet("a"), TxnCreate("b", nil, 0)}, 2, false},
		{"a key written twice", []TxnOp{TxnSwap("a", 1, nil, 0), TxnCreate("a", nil, 0)}, 0, true},
		{"an op of unknown kind", []TxnOp{TxnGet("a"), {Kind: 99, Key: "b"}}, 0, true},
		{"a zero op", []TxnOp{{}}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writes, err := CheckTxn(tt.ops)
			if tt.invalid != errors.Is(err, ErrInvalidTxn) || (!tt.invalid && err != nil) {
				t.Fatalf("CheckTxn = %d, %v; want invalid %v", writes, err, tt.invalid)
			}
			if writes != tt.writes {
				t.Errorf("writes = %d, want %d", writes, tt.writes)
			}
		})
	}
}
