package gateway

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// secretNameOK accepts a function name or any other single path element.
func secretNameOK(n string) bool {
	return api.ValidName(n) || (n != "" && !strings.ContainsAny(n, `/\`) && n != "." && n != "..")
}

// listSecrets serves GET /system/secrets: the names in the secret store.
func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	entries, _ := filepathGlob(s.opts.Supervisor.SecretsDir())
	out := []api.Secret{}
	for _, n := range entries {
		out = append(out, api.Secret{Name: n, Namespace: api.DefaultNamespace})
	}
	writeJSON(w, http.StatusOK, out)
}

// writeSecret handles POST (create; 409 when it exists) and PUT (update;
// 404 when missing) of /system/secrets. Success is 202.
func (s *Server) writeSecret(update bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sec api.Secret
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&sec); err != nil || !secretNameOK(sec.Name) {
			httpError(w, http.StatusBadRequest, "body must be {\"name\": NAME, \"value\": VALUE}")
			return
		}
		value := []byte(sec.Value)
		if sec.Value == "" {
			value = sec.RawValue
		}
		exists := fileExists(filepath.Join(s.opts.Supervisor.SecretsDir(), sec.Name))
		switch {
		case update && !exists:
			httpError(w, http.StatusNotFound, "secret "+sec.Name+" not found")
			return
		case !update && exists:
			httpError(w, http.StatusConflict, "secret "+sec.Name+" already exists")
			return
		}
		if err := writeFileAtomic(filepath.Join(s.opts.Supervisor.SecretsDir(), sec.Name), value); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

// deleteSecret serves DELETE /system/secrets.
func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	var sec api.Secret
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&sec); err != nil || !secretNameOK(sec.Name) {
		httpError(w, http.StatusBadRequest, "body must be {\"name\": NAME}")
		return
	}
	if err := removeFile(filepath.Join(s.opts.Supervisor.SecretsDir(), sec.Name)); err != nil {
		httpError(w, http.StatusNotFound, "secret "+sec.Name+" not found")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
