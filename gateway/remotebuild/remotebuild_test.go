package remotebuild

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/faas-flow/faas-flow/gateway/api"
)

func TestTarRoundTripKeepsContextAndConfig(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "function"), 0o755)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n"), 0o644)
	os.WriteFile(filepath.Join(src, "function", "handler.go"), []byte("package function\n"), 0o644)
	var buf bytes.Buffer
	if err := WriteTar(&buf, src, api.BuildConfig{Image: "img:1", BuildArgs: map[string]string{"ADDITIONAL_PACKAGE": ""}}); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	cfg, err := ExtractTar(bytes.NewReader(buf.Bytes()), dst)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Image != "img:1" {
		t.Errorf("image = %q", cfg.Image)
	}
	b, err := os.ReadFile(filepath.Join(dst, "function", "handler.go"))
	if err != nil || string(b) != "package function\n" {
		t.Fatalf("handler.go = %q, %v", b, err)
	}
}

func tarOf(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := []byte(`{"image":"x"}`)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestExtractRejectsUnsafeArchives(t *testing.T) {
	cfg := &tar.Header{Name: BuildConfigFile, Typeflag: tar.TypeReg, Mode: 0o644}
	tests := map[string][]byte{
		"parent path":     tarOf(t, cfg, &tar.Header{Name: "context/../../evil", Typeflag: tar.TypeReg, Mode: 0o644}),
		"absolute path":   tarOf(t, cfg, &tar.Header{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}),
		"symlink":         tarOf(t, cfg, &tar.Header{Name: "context/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}),
		"outside context": tarOf(t, cfg, &tar.Header{Name: "other/file", Typeflag: tar.TypeReg, Mode: 0o644}),
		"no config":       tarOf(t, &tar.Header{Name: "context/f", Typeflag: tar.TypeReg, Mode: 0o644}),
		"not a tar":       []byte("garbage"),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ExtractTar(bytes.NewReader(b), t.TempDir()); !errors.Is(err, ErrBadTar) {
				t.Fatalf("err = %v, want ErrBadTar", err)
			}
		})
	}
}

func TestSignatureVerifiesOnlyWithTheSameSecretAndPayload(t *testing.T) {
	sig := Sign([]byte("payload"), []byte("secret"))
	if err := Verify([]byte("payload"), []byte("secret"), sig); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ payload, secret, sig string }{
		{"payload", "other", sig},
		{"payload2", "secret", sig},
		{"payload", "secret", ""},
		{"payload", "secret", "sha1=abc"},
		{"payload", "secret", "sha256=zz"},
	} {
		if err := Verify([]byte(tc.payload), []byte(tc.secret), tc.sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify(%q,%q,%q) = %v", tc.payload, tc.secret, tc.sig, err)
		}
	}
}

func FuzzExtractTar(f *testing.F) {
	var buf bytes.Buffer
	src := f.TempDir()
	os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644)
	WriteTar(&buf, src, api.BuildConfig{Image: "i"})
	f.Add(buf.Bytes())
	f.Add([]byte("nope"))
	f.Fuzz(func(t *testing.T, b []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "ctx")
		_, _ = ExtractTar(bytes.NewReader(b), dir)
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if e.Name() != "ctx" {
				t.Fatalf("archive wrote %q outside the context dir", e.Name())
			}
		}
	})
}

func TestExtractRefusesFilesOverTheLimit(t *testing.T) {
	cfg := &tar.Header{Name: BuildConfigFile, Typeflag: tar.TypeReg, Mode: 0o644}
	file := func(name string, size int) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)}
	}
	tests := []struct {
		name  string
		files []*tar.Header
		ok    bool
	}{
		{"one file at the limit", []*tar.Header{file("context/a", 1024)}, true},
		{"one file over the limit", []*tar.Header{file("context/a", 1025)}, false},
		{"files over the limit together", []*tar.Header{file("context/a", 600), file("context/b", 600)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			b, _ := json.Marshal(api.BuildConfig{Image: "img:1"})
			h := *cfg
			h.Size = int64(len(b))
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			tw.Write(b)
			for _, f := range tt.files {
				if err := tw.WriteHeader(f); err != nil {
					t.Fatal(err)
				}
				tw.Write(bytes.Repeat([]byte("x"), int(f.Size)))
			}
			tw.Close()
			_, err := ExtractTarMax(bytes.NewReader(buf.Bytes()), t.TempDir(), 1024)
			if tt.ok && err != nil {
				t.Fatalf("err = %v, want the archive unpacked", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadTar) {
				t.Fatalf("err = %v, want ErrBadTar", err)
			}
		})
	}
}
