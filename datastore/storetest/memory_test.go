package storetest_test

import (
	"testing"

	"github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/datastore/storetest"
	"github.com/faas-flow/faas-flow/sdk"
)

// TestMemory proves the in-memory store against the conformance suite.
func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.DataStore { return memory.New() }, storetest.Options{
		Leftovers: func(t *testing.T, st sdk.DataStore) []string { return st.(*memory.Store).Keys() },
	})
}
