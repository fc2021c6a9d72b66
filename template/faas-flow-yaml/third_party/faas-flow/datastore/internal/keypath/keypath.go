package keypath

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey reports a key that cannot be stored: empty, or with an empty
// segment (leading, trailing or doubled '/').
var ErrInvalidKey = errors.New("invalid data store key")

const hexDigits = "0123456789ABCDEF"

// LeafSuffix ends the name under which a key's value is stored (a file, an
// object). Encode never leaves '~' raw, so a stored name never equals an
// encoded directory or prefix: "a" and "a/b" are stored as "a~" and "a/b~",
// which file systems and S3 servers (MinIO lists "a" and "a/..." badly when
// both exist) keep apart.
const LeafSuffix = "~"

// Leaf returns the stored name of key: Encode(key) + LeafSuffix.
func Leaf(key string) (string, error) {
	enc, err := Encode(key)
	if err != nil {
		return "", err
	}
	return enc + LeafSuffix, nil
}

// Encode returns the storage path of key. It rejects keys with empty
// segments, which file systems and S3 servers cannot represent faithfully.
func Encode(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "//") {
		return "", fmt.Errorf("%w: %q has an empty path segment", ErrInvalidKey, key)
	}
	return EncodePrefix(key), nil
}

// EncodePrefix encodes a key prefix. For every key k with prefix p,
// Encode(k) has prefix EncodePrefix(p), and no other key's encoding does.
func EncodePrefix(prefix string) string {
	var b strings.Builder
	b.Grow(len(prefix))
	segStart := true
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		switch {
		case c == '/':
			b.WriteByte(c)
			segStart = true
			continue
		case c == '.' && !segStart, unreserved(c):
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xF])
		}
		segStart = false
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// Decode reverses Encode. It fails on anything Encode cannot produce.
func Decode(path string) (string, error) {
	var b strings.Builder
	b.Grow(len(path))
	segStart := true
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '/':
			b.WriteByte(c)
			segStart = true
			continue
		case c == '.' && !segStart, unreserved(c):
			b.WriteByte(c)
		case c == '%' && i+2 < len(path) && isHex(path[i+1]) && isHex(path[i+2]):
			v := unhex(path[i+1])<<4 | unhex(path[i+2])
			keptRaw := unreserved(v) || v == '.' && !segStart
			if v == '/' || keptRaw {
				return "", fmt.Errorf("%w: %q is not a canonical encoding", ErrInvalidKey, path)
			}
			b.WriteByte(v)
			i += 2
		default:
			return "", fmt.Errorf("%w: %q is not an encoded key", ErrInvalidKey, path)
		}
		segStart = false
	}
	return b.String(), nil
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
