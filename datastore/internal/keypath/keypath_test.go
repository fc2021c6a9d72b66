package keypath

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeEscapesHostileSegments(t *testing.T) {
	cases := []struct{ key, want string }{
		{"flowA/req1/data/n1", "flowA/req1/data/n1"},
		{"f/r/..", "f/r/%2E."},
		{"f/r/.", "f/r/%2E"},
		{"f/r/../../etc/passwd", "f/r/%2E./%2E./etc/passwd"},
		{"f/r/.hidden", "f/r/%2Ehidden"},
		{"f/r/a.b..c", "f/r/a.b..c"},
		{"f/r/a%2Fb", "f/r/a%252Fb"},
		{"f/r/with space", "f/r/with%20space"},
		{"f/r/back\\slash", "f/r/back%5Cslash"},
		{"f/r/é", "f/r/%C3%A9"},
		{"f/r/nul\x00", "f/r/nul%00"},
		{"f/r/tilde~", "f/r/tilde%7E"},
	}
	for _, c := range cases {
		got, err := Encode(c.key)
		if err != nil || got != c.want {
			t.Errorf("Encode(%q) = %q, %v; want %q", c.key, got, err, c.want)
		}
	}
}

func TestEncodeRejectsEmptySegments(t *testing.T) {
	for _, k := range []string{"", "/", "/a", "a/", "a//b", "f/r/"} {
		if got, err := Encode(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Encode(%q) = %q, %v; want ErrInvalidKey", k, got, err)
		}
	}
}

func TestDecodeRejectsNonCanonicalInput(t *testing.T) {
	for _, p := range []string{"%2F", "a%41", "%2Ea/x%2E", "..", "a/../b", "%", "%4", "%zz", "a b", "~"} {
		if k, err := Decode(p); err == nil {
			t.Errorf("Decode(%q) = %q, nil; want an error", p, k)
		}
	}
}

// checkKey asserts the properties the stores rely on for one key.
func checkKey(t *testing.T, key string) {
	enc, err := Encode(key)
	if err != nil {
		if !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("Encode(%q) error %v does not wrap ErrInvalidKey", key, err)
		}
		return
	}
	for _, seg := range strings.Split(enc, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, ".") {
			t.Fatalf("Encode(%q) = %q has segment %q", key, enc, seg)
		}
		if strings.ContainsAny(seg, "\\~ \x00") {
			t.Fatalf("Encode(%q) = %q has an unsafe byte in %q", key, enc, seg)
		}
	}
	dec, err := Decode(enc)
	if err != nil || dec != key {
		t.Fatalf("Decode(Encode(%q)) = %q, %v", key, dec, err)
	}
	for i := 0; i <= len(key); i++ {
		if p := EncodePrefix(key[:i]); !strings.HasPrefix(enc, p) {
			t.Fatalf("EncodePrefix(%q) = %q is not a prefix of Encode(%q) = %q", key[:i], p, key, enc)
		}
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "f/r/..", ".", "%2F", "é/ü", "a//b", "x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(checkKey)
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"a/b", "%2E./x", "f/r/%2E", "%25", "a%20b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		k, err := Decode(p)
		if err != nil {
			return
		}
		if again := EncodePrefix(k); again != p {
			t.Fatalf("Decode(%q) = %q, which encodes back to %q", p, k, again)
		}
	})
}

// TestPrefixMatchesOnlyKeysWithThatPrefix checks the converse of the prefix
// property on pairs: an encoded prefix matches an encoded key only if the
// raw prefix matches the raw key.
func TestPrefixMatchesOnlyKeysWithThatPrefix(t *testing.T) {
	keys := []string{"flowA/req1/x", "flowA/req10/x", "flowA/req1", "flowA/req1%2Fx", "flowA/req1/.x", "flowA/req1/%2Ex", "flowB/req1/x", "flowA/r.q1/x"}
	prefixes := []string{"flowA/req1/", "flowA/req1", "flowA/req1%", "flowA/req1/.", "flowA/r", "flowA/r.", "flowA/req1/%2"}
	for _, k := range keys {
		ek, err := Encode(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range prefixes {
			if got, want := strings.HasPrefix(ek, EncodePrefix(p)), strings.HasPrefix(k, p); got != want {
				t.Errorf("key %q prefix %q: encoded match %v, raw match %v", k, p, got, want)
			}
		}
	}
}
