// Package storetest is the conformance suite every sdk.StateStore must pass.
// A store's own tests call Run with a constructor; the suite proves the
// semantics of each primitive, exactly-one-winner under concurrency, TTL
// expiry, prefix isolation between flows and requests, and cleanup.
package storetest
