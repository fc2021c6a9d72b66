package main

import (
	"context"
	"fmt"
	"time"
)

func runLogs(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("logs", e, "logs NAME [--tail N]")
	var g gatewayFlags
	g.register(fs)
	tail := fs.Int("tail", -1, "only the last N lines (-1: all kept)")
	ts := fs.Bool("timestamps", true, "prefix lines with their time and instance")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("want exactly one function name")
	}
	msgs, err := g.client(e, "").Logs(ctx, pos[0], *tail)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if *ts {
			fmt.Fprintf(e.stdout, "%s %s %s\n", m.Timestamp.Format(time.RFC3339Nano), m.Instance, m.Text)
		} else {
			fmt.Fprintln(e.stdout, m.Text)
		}
	}
	return nil
}
