package remotebuild

import (
	"archive/tar"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// BuildConfigFile is the tar entry holding api.BuildConfig.
const BuildConfigFile = "com.openfaas.docker.config"

// MaxBytes bounds a remote-builder upload.
const MaxBytes = 256 << 20

// ErrBadTar is wrapped by every error about an unusable build tar.
var ErrBadTar = errors.New("invalid build archive")

// ExtractTar unpacks a remote-builder tar: entries under context/ go to
// dir, BuildConfigFile is decoded. Absolute paths, "..", links and special
// files are rejected.
func ExtractTar(r io.Reader, dir string) (api.BuildConfig, error) {
	var cfg api.BuildConfig
	haveCfg := false
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cfg, fmt.Errorf("%w: %v", ErrBadTar, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return cfg, fmt.Errorf("%w: unsafe path %q", ErrBadTar, h.Name)
		}
		if name == BuildConfigFile {
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&cfg); err != nil {
				return cfg, fmt.Errorf("%w: %s: %v", ErrBadTar, BuildConfigFile, err)
			}
			haveCfg = true
			continue
		}
		rel, ok := strings.CutPrefix(name, "context/")
		if !ok {
			if name == "context" && h.Typeflag == tar.TypeDir {
				continue
			}
			return cfg, fmt.Errorf("%w: entry %q is outside context/", ErrBadTar, h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return cfg, err
			}
		case tar.TypeReg:
			total += h.Size
			if h.Size < 0 || total > MaxBytes {
				return cfg, fmt.Errorf("%w: context larger than %d bytes", ErrBadTar, MaxBytes)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return cfg, err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode&0o755)|0o600)
			if err != nil {
				return cfg, err
			}
			_, err = io.Copy(f, io.LimitReader(tr, h.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return cfg, err
			}
		default:
			return cfg, fmt.Errorf("%w: entry %q has unsupported type %q", ErrBadTar, h.Name, h.Typeflag)
		}
	}
	if !haveCfg {
		return cfg, fmt.Errorf("%w: %s missing", ErrBadTar, BuildConfigFile)
	}
	if cfg.Image == "" {
		return cfg, fmt.Errorf("%w: %s has no image", ErrBadTar, BuildConfigFile)
	}
	return cfg, nil
}

// WriteTar writes a remote-builder tar of contextDir for image.
func WriteTar(w io.Writer, contextDir string, cfg api.BuildConfig) error {
	tw := tar.NewWriter(w)
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: BuildConfigFile, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
		return err
	}
	if _, err := tw.Write(b); err != nil {
		return err
	}
	err = filepath.WalkDir(contextDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(contextDir, p)
		name := path.Join("context", filepath.ToSlash(rel))
		fi, err := os.Stat(p)
		if err != nil {
			return nil
		}
		switch {
		case fi.IsDir():
			return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: fi.ModTime()})
		case fi.Mode().IsRegular():
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), Typeflag: tar.TypeReg, ModTime: fi.ModTime()}); err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// Sign returns the X-Build-Signature value for payload: "sha256=<hex>".
func Sign(payload, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(payload)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is returned when a signature does not match.
var ErrBadSignature = errors.New("invalid signature")

// Verify checks an X-Build-Signature value in constant time.
func Verify(payload, secret []byte, header string) error {
	hexsig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		return fmt.Errorf("%w: want sha256=<hex>", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexsig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}
