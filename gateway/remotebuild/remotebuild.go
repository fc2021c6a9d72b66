package remotebuild

import (
	"archive/tar"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
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

// MaxBytes is the default bound of a remote-builder upload (the whole tar)
// and of the files it unpacks to.
const MaxBytes = 256 << 20

// ErrBadTar is wrapped by every error about an unusable build tar.
var ErrBadTar = errors.New("invalid build archive")

// ExtractTar unpacks a remote-builder tar to dir with ExtractTarMax, its
// files bounded to MaxBytes in all.
func ExtractTar(r io.Reader, dir string) (api.BuildConfig, error) {
	return ExtractTarMax(r, dir, MaxBytes)
}

// ExtractTarMax unpacks a remote-builder tar read from r as it goes (it
// holds no more than one copy buffer): entries under context/ go to dir,
// BuildConfigFile is decoded. Absolute paths, "..", links and special
// files are rejected, and so is an archive whose files declare more than
// limit bytes in all (a sparse entry is counted at its unpacked size), so
// that what is written to dir stays bounded whatever the archive says.
func ExtractTarMax(r io.Reader, dir string, limit int64) (api.BuildConfig, error) {
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
			if h.Size < 0 || h.Size > limit || total > limit {
				return cfg, fmt.Errorf("%w: context larger than %d bytes", ErrBadTar, limit)
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

// ErrBadSignature is returned when a signature does not match, and wrapped
// when an X-Build-Signature value is malformed.
var ErrBadSignature = errors.New("invalid signature")

// ParseSignature decodes an X-Build-Signature value: "sha256=" and the 64
// hex digits of an HMAC-SHA256. Anything else (missing, another algorithm,
// another length, not hex) is an error wrapping ErrBadSignature, so that a
// request without a usable signature can be refused before its body is
// read.
func ParseSignature(header string) ([]byte, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil, fmt.Errorf("%w: missing, want sha256=<hex>", ErrBadSignature)
	}
	hexsig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return nil, fmt.Errorf("%w: want sha256=<hex>", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexsig)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if len(got) != sha256.Size {
		return nil, fmt.Errorf("%w: want %d hex digits after sha256=, got %d", ErrBadSignature, 2*sha256.Size, len(hexsig))
	}
	return got, nil
}

// Verifier checks a signature over a payload written to it piece by piece,
// so that a payload need never be held in memory whole.
type Verifier struct {
	want []byte
	mac  hash.Hash
}

// NewVerifier parses header (see ParseSignature) and returns a Verifier of
// it under secret.
func NewVerifier(secret []byte, header string) (*Verifier, error) {
	want, err := ParseSignature(header)
	if err != nil {
		return nil, err
	}
	return &Verifier{want: want, mac: hmac.New(sha256.New, secret)}, nil
}

// Write adds p to the payload; it never fails.
func (v *Verifier) Write(p []byte) (int, error) { return v.mac.Write(p) }

// Check compares, in constant time, the signature with the HMAC of what
// was written: nil when they match, ErrBadSignature otherwise.
func (v *Verifier) Check() error {
	if !hmac.Equal(v.want, v.mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// Verify checks an X-Build-Signature value over a payload held in memory.
func Verify(payload, secret []byte, header string) error {
	v, err := NewVerifier(secret, header)
	if err != nil {
		return err
	}
	v.Write(payload)
	return v.Check()
}
