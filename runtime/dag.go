package runtime

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"

	"github.com/faas-flow/faas-flow/runtime/dagexport"
)

// handleDAG answers ?export-dag=true (format "faasflow") and
// ?dag=json|dot|mermaid.
func (s *Server) handleDAG(w http.ResponseWriter, r *http.Request, format string) {
	wf := s.eng.Definition()
	switch strings.ToLower(format) {
	case "faasflow", "json", "":
		s.writeJSON(w, http.StatusOK, dagexport.Export(wf, nil))
	case "dot", "graphviz":
		w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		_, _ = w.Write(dagexport.DOT(wf, s.cfg.Flow))
	case "mermaid":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(dagexport.Mermaid(wf))
	default:
		s.writeError(w, r, fmt.Errorf("%w: dag=%q: want json, dot or mermaid", ErrBadInput, format), "")
	}
}

// verifyHubSignature checks sig ("sha1=<hex>" or "sha256=<hex>") against
// the HMAC of body under key, in constant time.
func verifyHubSignature(key, body []byte, sig string) bool {
	if len(key) == 0 {
		return false
	}
	algo, hexSig, ok := strings.Cut(sig, "=")
	if !ok {
		return false
	}
	var h func() hash.Hash
	switch algo {
	case "sha1":
		h = sha1.New
	case "sha256":
		h = sha256.New
	default:
		return false
	}
	want, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(h, key)
	m.Write(body)
	return hmac.Equal(want, m.Sum(nil))
}
