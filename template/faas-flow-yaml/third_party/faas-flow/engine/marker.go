package engine

import (
	"context"
	"fmt"

	"github.com/faas-flow/faas-flow/sdk"
)

// Markers of join arrivals and branch results carry their data: inline
// (first byte markInline) when it fits the inline limit, else a reference
// (markRef) to the same key in the DataStore. One StateStore write then
// records both the arrival and, usually, its data.
const (
	markInline byte = 'i'
	markRef    byte = 'r'
)

// mark returns the marker value for data, storing data in the DataStore
// under key first when it is too large to ride inline.
func (r *run) mark(ctx context.Context, key string, data []byte) ([]byte, error) {
	if len(data) <= r.e.o.InlineLimit {
		return append([]byte{markInline}, data...), nil
	}
	if err := r.e.o.DataStore.Put(ctx, key, data); err != nil {
		return nil, err
	}
	return []byte{markRef}, nil
}

// loadMarked returns the data a marker value carries or references.
func (r *run) loadMarked(ctx context.Context, key string, marker []byte) ([]byte, error) {
	switch {
	case len(marker) > 0 && marker[0] == markInline:
		return marker[1:], nil
	case len(marker) > 0 && marker[0] == markRef:
		return r.e.o.DataStore.Get(ctx, key)
	}
	return nil, fmt.Errorf("%w: no recorded data at %s", sdk.ErrNotFound, key)
}
