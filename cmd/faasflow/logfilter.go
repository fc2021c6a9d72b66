package main

import "strings"

// requestKeys are the keys a flow's log line names its request with:
// request_id in the request log, request in other lines about a request.
var requestKeys = []string{"request_id", "request"}

// ofRequest reports whether the log line text names request id, in the
// text form of log/slog (request_id=ID, or request_id="ID" when quoted) or
// in its JSON form ("request_id":"ID"). The id must match whole:
// request_id=ab is not a line of request a.
func ofRequest(text, id string) bool {
	if id == "" {
		return false
	}
	for _, k := range requestKeys {
		for _, p := range []string{k + "=" + id, k + `="` + id + `"`, `"` + k + `":"` + id + `"`} {
			if containsWhole(text, p) {
				return true
			}
		}
	}
	return false
}

// containsWhole reports whether p occurs in text as a whole field: at the
// start of text or after a space, '{' or ',', and followed by its end, a
// space, ',' or '}'.
func containsWhole(text, p string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], p)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(p)
		if (start == 0 || strings.ContainsRune(" {,", rune(text[start-1]))) &&
			(end == len(text) || strings.ContainsRune(" ,}\n", rune(text[end]))) {
			return true
		}
		i = start + 1
	}
}
