// Package keypath maps DataStore keys to storage paths (file paths for the
// local store, object names for S3) so that no key, however hostile, can name
// anything outside its prefix or the store root.
//
// The mapping escapes bytes one at a time: A-Z, a-z, 0-9, '-', '_' and '.'
// stay as they are, '/' separates segments, and every other byte becomes %XX.
// A '.' that starts a segment is escaped too, so no encoded segment is ever
// "." or "..", and no encoded segment starts with '.' (names starting with '.'
// are free for temporary files). Because each byte is encoded on its own
// (looking back only at whether it starts a segment), the encoding of a
// prefix of a key is a prefix of the encoding of the key, and prefix deletes
// work on encoded names. The encoding is injective and reversible. Values are
// stored under Leaf(key), the encoding plus "~", so no stored name is also a
// directory or prefix of another key's name.
package keypath
