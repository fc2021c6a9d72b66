package gateway

import (
	"fmt"
	"net/http"
	"time"

	"github.com/faas-flow/faas-flow/dashboard"
)

// dashboard is the handler of /ui/: the dashboard reading this gateway
// through its own URL, with its login.
func (l *Local) dashboard() (http.Handler, error) {
	o := dashboard.Options{GatewayURL: l.url, JaegerURL: l.opts.JaegerURL, HTTPClient: &http.Client{Timeout: time.Minute}}
	if l.creds != nil {
		o.Username, o.Password = l.creds.User, l.creds.Password
	}
	h, err := dashboard.New(o)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return h, nil
}
