// Package function upper-cases the request body.
package function

import (
	"bytes"
	"io"
	"net/http"
)

// Handle writes the body in upper case.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write(bytes.ToUpper(body))
}
