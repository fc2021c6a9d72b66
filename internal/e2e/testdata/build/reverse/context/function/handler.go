// Package function reverses the request body (by rune).
package function

import (
	"io"
	"net/http"
)

// Handle writes the body reversed.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rs := []rune(string(body))
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	_, _ = io.WriteString(w, string(rs))
}
