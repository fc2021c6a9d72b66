// Package function fails on purpose: the first two calls for each ?key=
// answer 503, the third echoes the body. Flows use it to show retries.
package function

import (
	"io"
	"net/http"
	"sync"
)

var (
	mu    sync.Mutex
	calls = map[string]int{}
)

// Handle fails twice per key, then echoes the body.
func Handle(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	mu.Lock()
	calls[key]++
	n := calls[key]
	mu.Unlock()
	if n <= 2 {
		http.Error(w, "flaky: try again", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write(body)
}
