// Package archtest checks, as part of the normal test suite, that the
// module keeps the shape docs/architecture.md describes: which packages may
// import which, that every package says its one job in a doc.go, and that
// files and functions stay small enough to read in one sitting. It also
// keeps the package graph in docs/architecture.md current (go test
// ./internal/archtest -update rewrites it). It has no code of its own
// outside its tests.
package archtest
