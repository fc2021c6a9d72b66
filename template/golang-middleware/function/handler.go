// Package function holds the handler of a golang-middleware function.
package function

import (
	"fmt"
	"io"
	"net/http"
)

// Handle answers one request. The request body is the function's input and
// whatever is written to w is its output.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "cannot read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello, Go. You said: %s", body)
}
