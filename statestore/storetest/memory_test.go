package storetest_test

import (
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/statestore/memory"
	"github.com/faas-flow/faas-flow/statestore/storetest"
)

// TestMemory proves the in-memory store against the conformance suite.
func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.StateStore { return memory.New() },
		storetest.Options{MaxTTLOverrun: time.Second})
}
