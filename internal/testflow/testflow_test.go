package testflow

import (
	"maps"
	"slices"
	"testing"
)

func TestJoinSortedOrdersByKeyWhateverTheMapOrder(t *testing.T) {
	got, _ := JoinSorted(map[string][]byte{"b": []byte("2"), "a": []byte("1"), "c": nil})
	if string(got) != "a=1,b=2,c=" {
		t.Fatalf("JoinSorted = %q", got)
	}
}

func TestSplitCommaSkipsEmptyItems(t *testing.T) {
	got := SplitComma([]byte("x,,y,"))
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"x", "y"}) || string(got["y"]) != "y" {
		t.Fatalf("SplitComma = %v", got)
	}
}

func TestAppendModDoesNotWriteIntoItsInput(t *testing.T) {
	in := make([]byte, 1, 8)
	in[0] = 'a'
	out, _ := AppendMod("b")(in)
	if string(out) != "ab" || string(in[:2]) == "ab" {
		t.Fatalf("out %q, input's spare capacity written: %q", out, in[:2])
	}
}
