package function

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func csvStats(in []byte) ([]byte, error) {
	var rows, sum int64
	sc := bufio.NewScanner(bytes.NewReader(in))
	for sc.Scan() {
		i := bytes.IndexByte(sc.Bytes(), ',')
		v, err := strconv.ParseInt(string(sc.Bytes()[i+1:]), 10, 64)
		if err != nil {
			return nil, err
		}
		rows++
		sum += v
	}
	return json.Marshal(struct{ Rows, Sum int64 }{rows, sum})
}

func TestETLMovesMegabytesThroughTheDataStore(t *testing.T) {
	h, err := flowtest.New(Define, flowtest.WithFunction("csv-stats", csvStats))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("rows=200000"))
	if err != nil {
		t.Fatal(err)
	}
	// sum of i%1000 for i < 200000 = 200 * (0+...+999) = 99900000
	if res.State != "succeeded" || string(res.Output) != `{"rows":200000,"sum":99900000}` {
		t.Fatalf("%s %q %s", res.State, res.Output, res.Err)
	}
}

func TestETLRejectsBadInputWithoutRetrying(t *testing.T) {
	h, err := flowtest.New(Define, flowtest.WithFunction("csv-stats", csvStats))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(context.Background(), []byte("rows=lots"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "failed" {
		t.Fatalf("state %s", res.State)
	}
}
