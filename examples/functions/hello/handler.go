// Package function greets whoever is named in the request body.
package function

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Handle answers "Hello, <name>!".
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := bytes.TrimSpace(body)
	if len(name) == 0 {
		name = []byte("stranger")
	}
	fmt.Fprintf(w, "Hello, %s!", name)
}
