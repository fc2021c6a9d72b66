// Package local is an sdk.DataStore in a directory on the local file system:
// the embedded default of the local gateway (`faasflow up`).
//
// Each key is one file. Keys are mapped to paths segment by segment with the
// escaping of datastore/internal/keypath, so no key can name "." or "..", an
// empty segment, or anything outside the root. A key's file is its last
// segment plus "~" (a byte the escaping never leaves raw), so a key and keys
// below it ("a" and "a/b") coexist as a file and a directory.
//
// Writes go to a temporary file in the same directory, are fsynced and then
// renamed over the key's file, so readers see the old or the new value, never
// a mix, and several processes on one machine may share a root. Empty
// directories are removed as keys are deleted.
package local
