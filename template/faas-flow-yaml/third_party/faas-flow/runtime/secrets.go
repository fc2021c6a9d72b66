package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrSecretNotFound is returned (wrapped) by a SecretReader for a secret that
// does not exist.
var ErrSecretNotFound = errors.New("secret not found")

// SecretReader reads OpenFaaS secrets by name.
type SecretReader interface {
	// ReadSecret returns the secret's value with surrounding white space
	// trimmed, or an error wrapping ErrSecretNotFound.
	ReadSecret(name string) (string, error)
}

// FileSecrets reads secrets from files in Dir, the way OpenFaaS mounts them
// (/var/openfaas/secrets/<name>).
type FileSecrets struct {
	Dir string
}

// ReadSecret implements SecretReader.
func (f FileSecrets) ReadSecret(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("invalid secret name %q", name)
	}
	b, err := os.ReadFile(filepath.Join(f.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s in %s", ErrSecretNotFound, name, f.Dir)
	}
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// MapSecrets is a SecretReader backed by a map (tests, embedding).
type MapSecrets map[string]string

// ReadSecret implements SecretReader.
func (m MapSecrets) ReadSecret(name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrSecretNotFound, name)
	}
	return strings.TrimSpace(v), nil
}
