// Package testflow holds the small flow functions the project's tests
// build their flows from: a sorting aggregator, a comma splitter for
// foreach nodes, an appending modifier. It is test infrastructure, not
// part of the SDK.
package testflow
