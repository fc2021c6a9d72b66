package runtime

import (
	"fmt"
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
