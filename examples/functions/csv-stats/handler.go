// Package function sums the value column of "id,value" CSV lines.
package function

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// Handle answers {"Rows": n, "Sum": s}.
func Handle(w http.ResponseWriter, r *http.Request) {
	var rows, sum int64
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseInt(string(line[i+1:]), 10, 64)
		if err != nil {
			http.Error(w, "bad line: "+string(line), http.StatusBadRequest)
			return
		}
		rows++
		sum += v
	}
	if err := sc.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct{ Rows, Sum int64 }{rows, sum})
}
