package engine_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	datamem "github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
)

// expiringData is a memory DataStore that records the expiry it is asked for.
type expiringData struct {
	sdk.DataStore
	asked []string
}

func (d *expiringData) ExpireAfter(_ context.Context, prefix string, age time.Duration) error {
	d.asked = append(d.asked, prefix+" "+age.String())
	return nil
}

func TestExpireAbandonedDataCoversTheFlowsWorkingDataAndResults(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		want      []string
	}{
		{"results kept an hour", time.Hour, []string{"w/order%2Fflow/ 25h0m0s", "r/order%2Fflow/ 2h0m0s"}},
		{"results not kept", -1, []string{"w/order%2Fflow/ 25h0m0s", "r/order%2Fflow/ 1h0m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := &expiringData{DataStore: datamem.New()}
			e, err := engine.New(syncChain(2), engine.Options{Flow: "order/flow", DataStore: data,
				RequestTTL: 24 * time.Hour, Retention: tt.retention})
			if err != nil {
				t.Fatal(err)
			}
			supported, err := e.ExpireAbandonedData(context.Background())
			if err != nil || !supported {
				t.Fatalf("ExpireAbandonedData = %v, %v", supported, err)
			}
			if !reflect.DeepEqual(data.asked, tt.want) {
				t.Fatalf("expiry asked for %q, want %q", data.asked, tt.want)
			}
		})
	}
	e, err := engine.New(syncChain(2), engine.Options{Flow: "f", DataStore: datamem.New()})
	if err != nil {
		t.Fatal(err)
	}
	if supported, err := e.ExpireAbandonedData(context.Background()); supported || err != nil {
		t.Fatalf("a store without expiry: ExpireAbandonedData = %v, %v; want false, nil", supported, err)
	}
}
