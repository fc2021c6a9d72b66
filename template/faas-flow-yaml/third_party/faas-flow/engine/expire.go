package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// expiryMargin is added to the ages ExpireAbandonedData asks for, so that
// clock skew and a request finishing at its limit never lose live data.
const expiryMargin = time.Hour

// ExpireAbandonedData asks the DataStore, if it implements sdk.Expirer, to
// remove this flow's objects that no request can still need: working data
// (hop inputs, join and branch data, context values) older than RequestTTL
// and results older than Retention, each plus an hour. Requests that end
// delete their working data themselves; this reclaims the data of requests
// abandoned by a crash, whose state has expired. It reports whether the
// store supports expiry. Runtimes call it at start and then every hour.
func (e *Engine) ExpireAbandonedData(ctx context.Context) (bool, error) {
	ex, ok := e.o.DataStore.(sdk.Expirer)
	if !ok {
		return false, nil
	}
	work, results := flowPrefixes(e.o.Flow)
	if err := ex.ExpireAfter(ctx, work, e.o.RequestTTL+expiryMargin); err != nil {
		return true, fmt.Errorf("expire working data: %w", err)
	}
	if err := ex.ExpireAfter(ctx, results, max(e.o.Retention, 0)+expiryMargin); err != nil {
		return true, fmt.Errorf("expire results: %w", err)
	}
	return true, nil
}
