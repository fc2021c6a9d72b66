package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
)

func runLogs(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("logs", e, "logs NAME [--tail N] [--follow] [--request ID]")
	var g gatewayFlags
	g.register(fs)
	tail := fs.Int("tail", -1, "only the last N lines (-1: all kept)")
	follow := fs.Bool("follow", false, "keep printing new lines as the function writes them (until Ctrl-C or the function is removed)")
	ts := fs.Bool("timestamps", true, "prefix lines with their time and instance")
	request := fs.String("request", "", "only the lines of the flow request with this id (request_id=ID in the line)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one function name")
	}
	show := func(m api.LogMessage) error {
		if *request != "" && !ofRequest(m.Text, *request) {
			return nil
		}
		if *ts {
			fmt.Fprintf(e.stdout, "%s %s %s\n", m.Timestamp.Format(time.RFC3339Nano), m.Instance, m.Text)
		} else {
			fmt.Fprintln(e.stdout, m.Text)
		}
		return nil
	}
	c := g.client(e, "")
	if *follow {
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.FollowLogs(ctx, pos[0], *tail, show)
		if errors.Is(err, context.Canceled) {
			return nil // Ctrl-C ends a follow normally
		}
		return err
	}
	msgs, err := c.Logs(ctx, pos[0], *tail)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		_ = show(m)
	}
	return nil
}
