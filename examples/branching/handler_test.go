package function

import (
	"bytes"
	"context"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestBranchingRoutesSentencesAndWords(t *testing.T) {
	h, err := flowtest.New(Define,
		flowtest.WithFunction("upper", func(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil }),
		flowtest.WithFunction("reverse", func(in []byte) ([]byte, error) {
			out := make([]byte, len(in))
			for i, c := range in {
				out[len(in)-1-i] = c
			}
			return out, nil
		}),
		flowtest.WithFunction("hello", func(in []byte) ([]byte, error) { return []byte("Hello, " + string(in) + "!"), nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tests := []struct{ in, want string }{
		{"Go Flows rock", "result: sentence=flows=SWOLF; go=OG; rock=KCOR"},
		{" Adam ", "result: word=Hello, adam!"},
	}
	for _, tt := range tests {
		res, err := h.Run(context.Background(), []byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if res.State != "succeeded" || string(res.Output) != tt.want {
			t.Fatalf("%q: %s %q %s; want %q", tt.in, res.State, res.Output, res.Err, tt.want)
		}
	}
}
