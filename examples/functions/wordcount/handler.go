// Package function counts the words of the request body.
package function

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Handle writes the number of words.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprint(w, len(bytes.Fields(body)))
}
