package runtime

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/faas-flow/faas-flow/transport/callbackguard"
)

// guardedCallbackClient is client (nil: NewHTTPClient()) made to refuse
// completion callbacks to the flow's own etcd and NATS, except those
// callback_allow names: the callback URL comes from the caller, and would
// otherwise let it make the flow write into its own state store.
func guardedCallbackClient(cfg Config, client *http.Client) (*http.Client, error) {
	if client == nil {
		client = NewHTTPClient()
	}
	var protected []string
	if cfg.StateStore == StoreEtcd || cfg.StateStore == "" {
		protected = append(protected, cfg.Etcd.Endpoints...)
	}
	if cfg.HopTransport == HopsViaNATS {
		protected = append(protected, strings.Split(cfg.NATSURL, ",")...)
	}
	// An address the guard cannot read (or a host name) is not protected;
	// the others are.
	var readable []string
	for _, p := range protected {
		if _, err := callbackguard.New(callbackguard.Options{Protected: []string{p}}); err == nil {
			readable = append(readable, p)
		}
	}
	g, err := callbackguard.New(callbackguard.Options{Protected: readable, Allow: cfg.CallbackAllow})
	if err != nil {
		return nil, fmt.Errorf("%w: callback_allow: %w", ErrInvalidConfig, err)
	}
	return g.Client(client), nil
}
