package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
)

func TestRegistrySurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "registry.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Put(Function{Deployment: api.FunctionDeployment{Service: "b", Image: "b:1", EnvVars: map[string]string{"k": "v"}}, CreatedAt: created, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Function{Deployment: api.FunctionDeployment{Service: "a", Image: "a:1"}, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetImage("b:1", "/bin/b", "golang-middleware"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetReplicas("a", 0); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	list := s2.List()
	if len(list) != 2 || list[0].Deployment.Service != "a" || list[0].Replicas != 0 {
		t.Fatalf("list = %+v", list)
	}
	b, ok := s2.Get("b")
	if !ok || b.Deployment.EnvVars["k"] != "v" || !b.CreatedAt.Equal(created) {
		t.Fatalf("b = %+v", b)
	}
	if img, ok := s2.Image("b:1"); !ok || img.Binary != "/bin/b" || img.Lang != "golang-middleware" {
		t.Fatalf("image = %+v %v", img, ok)
	}
	if err := s2.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete("a"); !errors.Is(err, api.ErrFunctionNotFound) {
		t.Fatalf("second delete err = %v", err)
	}
}

func TestOpenRejectsCorruptRegistry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := Open(path); err == nil {
		t.Fatal("corrupt registry opened without error")
	}
}
