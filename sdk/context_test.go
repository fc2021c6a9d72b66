package sdk_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

type mapValues struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (v *mapValues) Put(_ context.Context, k string, b []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m[k] = b
	return nil
}
func (v *mapValues) Get(_ context.Context, k string) ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.m[k]
	if !ok {
		return nil, faasflow.ErrNotFound
	}
	return b, nil
}
func (v *mapValues) Delete(_ context.Context, k string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, k)
	return nil
}

func TestContextValuesKeepTheirType(t *testing.T) {
	ctx := faasflow.NewContext(context.Background(), "f", "r", nil, &mapValues{m: map[string][]byte{}})
	tests := []struct {
		key  string
		in   interface{}
		want interface{}
	}{
		{"s", "text", "text"},
		{"i", 42, 42},
		{"b", true, true},
		{"bytes", []byte{0, 1, 2}, []byte{0, 1, 2}},
		{"json", map[string]int{"a": 1}, map[string]interface{}{"a": float64(1)}},
		{"key/with/slash", "ok", "ok"},
	}
	for _, tt := range tests {
		if err := ctx.Set(tt.key, tt.in); err != nil {
			t.Fatal(err)
		}
		got, err := ctx.Get(tt.key)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v (%v), want %#v", tt.key, got, err, tt.want)
		}
	}
	if _, err := ctx.LookupInt("s"); !errors.Is(err, faasflow.ErrTypeMismatch) {
		t.Fatalf("type mismatch: %v", err)
	}
	if ctx.GetInt("s") != 0 {
		t.Fatal("deprecated getter returned a value of another type")
	}
	if err := ctx.Del("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := ctx.Get("s"); !errors.Is(err, faasflow.ErrKeyNotFound) {
		t.Fatalf("after Del: %v", err)
	}
}
