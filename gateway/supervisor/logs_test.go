package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
)

func texts(lines []LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

func TestRingSinceReturnsTheLinesAfterASequenceNumber(t *testing.T) {
	tests := []struct {
		name  string
		added int
		seq   uint64
		want  []string
	}{
		{"nothing new", 2, 2, nil},
		{"the new lines", 2, 1, []string{"l1"}},
		{"all kept lines from the start", 2, 0, []string{"l0", "l1"}},
		{"after wrapping around", 5, 3, []string{"l3", "l4"}},
		{"lines that left the ring are skipped", 5, 0, []string{"l2", "l3", "l4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(3, "")
			for i := 0; i < tt.added; i++ {
				r.add("i", fmt.Sprintf("l%d", i))
			}
			lines, next, _, closed := r.since(tt.seq)
			if got := texts(lines); !slices.Equal(got, tt.want) {
				t.Errorf("since(%d) = %q, want %q", tt.seq, got, tt.want)
			}
			if next != uint64(tt.added) || closed {
				t.Errorf("next = %d closed = %v, want %d false", next, closed, tt.added)
			}
		})
	}
}

// follow runs FollowLogs in the background and returns its lines and its end.
func follow(ctx context.Context, s *Supervisor, name string, n int) (<-chan string, <-chan error) {
	lines := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.FollowLogs(ctx, name, n, func(ls []LogLine) error {
			for _, l := range ls {
				lines <- l.Text
			}
			return nil
		})
	}()
	return lines, done
}

func expectLines(t *testing.T, lines <-chan string, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-lines:
			if got != w {
				t.Fatalf("followed line %q, want %q", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("line %q not followed within 5s", w)
		}
	}
}

func expectEnd(t *testing.T, done <-chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) && err != want {
			t.Fatalf("FollowLogs ended with %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("FollowLogs did not end within 5s")
	}
}

func TestFollowLogsSendsTheTailThenEveryNewLineAcrossRedeploys(t *testing.T) {
	s := newSup(t)
	spec := Spec{Name: "w", FProcess: "cat"}
	if err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	inst.logs.add("t", "old")
	inst.logs.add("t", "last before follow")
	lines, done := follow(context.Background(), s, "w", 1)
	expectLines(t, lines, "last before follow")
	inst.logs.add("t", "first new")
	inst.logs.add("t", "second new")
	expectLines(t, lines, "first new", "second new")

	// An update replaces the instance but keeps its log and its followers.
	if err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	expectLines(t, lines, "classic mode: fprocess cat runs once per request")
	inst, _ = s.Get("w")
	inst.logs.add("t", "after update")
	expectLines(t, lines, "after update")

	if err := s.Stop("w"); err != nil {
		t.Fatal(err)
	}
	expectEnd(t, done, nil)
}

func TestFollowLogsEndsWithItsContext(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "w", FProcess: "cat"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lines, done := follow(ctx, s, "w", 0)
	expectLines(t, lines, "classic mode: fprocess cat runs once per request")
	cancel()
	expectEnd(t, done, context.Canceled)
}

func TestFollowLogsStopsWhenTheReaderFails(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "w", FProcess: "cat"}); err != nil {
		t.Fatal(err)
	}
	gone := errors.New("reader went away")
	err := s.FollowLogs(context.Background(), "w", 0, func([]LogLine) error { return gone })
	if !errors.Is(err, gone) {
		t.Fatalf("FollowLogs = %v, want the reader's error", err)
	}
}

func TestFollowLogsOfAnUnknownFunctionIsNotFound(t *testing.T) {
	s := newSup(t)
	err := s.FollowLogs(context.Background(), "nope", 0, func([]LogLine) error { return nil })
	if !errors.Is(err, api.ErrFunctionNotFound) {
		t.Fatalf("FollowLogs = %v, want api.ErrFunctionNotFound", err)
	}
}
