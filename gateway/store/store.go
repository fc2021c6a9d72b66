package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// Function is a deployed function.
type Function struct {
	Deployment api.FunctionDeployment `json:"deployment"`
	CreatedAt  time.Time              `json:"createdAt"`
	Replicas   uint64                 `json:"replicas"`
	// Binary is the program run for the function ("" for fprocess-only
	// functions) and Lang the template it was built from.
	Binary string `json:"binary,omitempty"`
	Lang   string `json:"lang,omitempty"`
}

// Image is a binary built for an image name.
type Image struct {
	Binary  string    `json:"binary"`
	Lang    string    `json:"lang,omitempty"`
	BuiltAt time.Time `json:"builtAt"`
}

type data struct {
	Functions map[string]Function `json:"functions"`
	Images    map[string]Image    `json:"images"`
}

// Store is the persisted registry. It is safe for concurrent use.
type Store struct {
	path string
	mu   sync.RWMutex
	d    data
}

// Open loads the registry at path, creating an empty one if absent.
func Open(path string) (*Store, error) {
	s := &Store{path: path, d: data{Functions: map[string]Function{}, Images: map[string]Image{}}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("open registry: %w", err)
		}
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("open registry: %w", err)
	}
	if err := json.Unmarshal(b, &s.d); err != nil {
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	if s.d.Functions == nil {
		s.d.Functions = map[string]Function{}
	}
	if s.d.Images == nil {
		s.d.Images = map[string]Image{}
	}
	return s, nil
}

// Get returns the function called name.
func (s *Store) Get(name string) (Function, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.d.Functions[name]
	return f, ok
}

// List returns all functions sorted by name.
func (s *Store) List() []Function {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Function, 0, len(s.d.Functions))
	for _, f := range s.d.Functions {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Deployment.Service < out[j].Deployment.Service })
	return out
}

// Put creates or replaces a function.
func (s *Store) Put(f Function) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.d.Functions[f.Deployment.Service]
	s.d.Functions[f.Deployment.Service] = f
	if err := s.saveLocked(); err != nil {
		if had {
			s.d.Functions[f.Deployment.Service] = old
		} else {
			delete(s.d.Functions, f.Deployment.Service)
		}
		return err
	}
	return nil
}

// SetReplicas updates a function's replica count.
func (s *Store) SetReplicas(name string, n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.d.Functions[name]
	if !ok {
		return fmt.Errorf("%w: %s", api.ErrFunctionNotFound, name)
	}
	f.Replicas = n
	s.d.Functions[name] = f
	return s.saveLocked()
}

// Delete removes a function.
func (s *Store) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.d.Functions[name]
	if !ok {
		return fmt.Errorf("%w: %s", api.ErrFunctionNotFound, name)
	}
	delete(s.d.Functions, name)
	if err := s.saveLocked(); err != nil {
		s.d.Functions[name] = f
		return err
	}
	return nil
}

// SetImage records the binary built for image.
func (s *Store) SetImage(image, binary, lang string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.Images[image] = Image{Binary: binary, Lang: lang, BuiltAt: time.Now().UTC()}
	return s.saveLocked()
}

// BinaryNames returns the file names (the last element of the path) of
// every binary an image or a function refers to.
func (s *Store) BinaryNames() map[string]bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make(map[string]bool, len(s.d.Images)+len(s.d.Functions))
	for _, i := range s.d.Images {
		names[filepath.Base(i.Binary)] = true
	}
	for _, f := range s.d.Functions {
		if f.Binary != "" {
			names[filepath.Base(f.Binary)] = true
		}
	}
	return names
}

// Image returns the binary built for image.
func (s *Store) Image(image string) (Image, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.d.Images[image]
	return i, ok
}

func (s *Store) saveLocked() error {
	b, err := json.MarshalIndent(s.d, "", "  ")
	if err != nil {
		return fmt.Errorf("save registry: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".registry-*")
	if err != nil {
		return fmt.Errorf("save registry: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("save registry: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("save registry: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save registry: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("save registry: %w", err)
	}
	return nil
}
