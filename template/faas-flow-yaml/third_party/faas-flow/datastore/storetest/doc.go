// Package storetest is the conformance suite every sdk.DataStore must pass.
// A store's own tests call Run with a constructor; the suite proves put, get,
// overwrite and delete semantics, prefix deletes that respect request and
// flow boundaries, whole values under concurrent writers, large payloads, and
// that keys carrying hostile user data cannot reach outside their prefix.
package storetest
