package gateway

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Credentials are the basic-auth user and password of /system/*.
type Credentials struct {
	User     string
	Password string
}

func (c *Credentials) check(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(c.User)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(c.Password)) == 1
	return uok && pok
}

// requireAuth answers 401 like OpenFaaS unless the request carries the
// credentials. With creds nil every request passes (any Authorization
// header, e.g. faas-cli's empty "Bearer", is ignored).
func requireAuth(creds *Credentials, next http.Handler) http.Handler {
	if creds == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !creds.check(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Restricted"`)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte("invalid credentials"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ReadSecretFile reads a secret file and trims surrounding whitespace.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// loadOrCreateSecret returns the trimmed content of path, writing a random
// value (hex of n bytes) first when the file does not exist.
func loadOrCreateSecret(path string, n int) (string, bool, error) {
	if v, err := ReadSecretFile(path); err == nil && v != "" {
		return v, false, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", false, err
	}
	v := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", false, err
	}
	return v, true, nil
}

func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
