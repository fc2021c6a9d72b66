// Package function echoes the request body. Benchmarks use it as the
// cheapest possible worker.
package function

import (
	"io"
	"net/http"
)

// Handle copies the body to the response.
func Handle(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(w, r.Body)
}
