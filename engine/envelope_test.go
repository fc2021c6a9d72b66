package engine_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

func goldenEnvelope() *engine.Envelope {
	return &engine.Envelope{
		Version:     engine.EnvelopeVersion,
		Flow:        "order-pipeline",
		RequestID:   "cgq1o2ag3kq0f5lrv9r0",
		Incarnation: "5k2d0q9f7m3ha1cb",
		DefHash:     "sha256:0123456789abcdef0123456789abcdef",
		HopID:       "6f1c2d3e4f5a6b7c8d9e0f1a",
		Cursor:      []engine.Frame{{Node: "split", Key: "item-1"}, {Node: "fetch"}},
		Join:        "",
		Data:        []byte("hello"),
		Query:       "user=adam&x=1",
		CallbackURL: "http://receiver:8080/done",
		Trace:       map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		IssuedAt:    time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC),
	}
}

// TestEnvelopeV2MatchesGoldenFile pins the wire format of hop envelope v2:
// a change to it must be deliberate (go test -run Golden -update) and
// documented in docs/hop-envelope.md.
func TestEnvelopeV2MatchesGoldenFile(t *testing.T) {
	s, err := engine.NewSigner([]byte("golden-key"), false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Seal(goldenEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "hop-v2.golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Fatalf("envelope encoding changed:\n got %s\nwant %s", got, want)
	}
	env, err := s.Open(want[:len(want)-1])
	if err != nil {
		t.Fatalf("golden hop does not verify: %v", err)
	}
	if env.Cursor[0].Key != "item-1" || string(env.Data) != "hello" {
		t.Fatalf("decoded %+v", env)
	}
}

func FuzzOpenNeverPanicsAndOnlyAcceptsSignedHops(f *testing.F) {
	s, _ := engine.NewSigner([]byte("fuzz-key"), false)
	good, _ := s.Seal(goldenEnvelope())
	f.Add(good)
	f.Add([]byte(`{"v":2,"sig":"","hop":{}}`))
	f.Add([]byte(`{"v":2,"sig":"sha256=00","hop":{"v":2}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := s.Open(body)
		if err != nil {
			if !errors.Is(err, engine.ErrBadSignature) && !errors.Is(err, engine.ErrMalformedHop) && !errors.Is(err, engine.ErrUnsupportedHop) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Anything accepted must re-verify: it was signed with our key.
		again, err := s.Seal(env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(again); err != nil {
			t.Fatalf("accepted hop does not round-trip: %v", err)
		}
	})
}
