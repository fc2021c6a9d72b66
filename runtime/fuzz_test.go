package runtime_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
)

// FuzzForwardRoute posts arbitrary bodies to /flow/<id>/forward of a flow
// with a running request. Without the HMAC key no body may run a node:
// every answer must be a client error (400, 401, 404 or 409), never a
// panic, a 5xx or a 200, and the request's state must not change.
func FuzzForwardRoute(f *testing.F) {
	fe := startFlow(f, parallelFlow, nil)
	fe.gw.SetHold(true)
	r := fakegateway.Do(f, http.MethodPost, fe.base+"/", []byte("fuzz"))
	id := r.JSON(f)["request_id"].(string)
	held := fe.gw.TakeHeld()
	before := fakegateway.Do(f, http.MethodGet, fe.base+"/flow/"+id+"/state", nil).Body

	for _, h := range held {
		f.Add(bytes.Replace(h.Body, []byte(`"sig":"sha256=`), []byte(`"sig":"sha256=0`), 1))
		f.Add(bytes.Replace(h.Body, []byte(`"data":"`), []byte(`"data":"AA`), 1))
		f.Add(h.Body[:len(h.Body)/2])
	}
	f.Add([]byte(`{"v":1,"sig":"","hop":{"v":1,"flow":"testflow","request_id":"` + id + `","hop_id":"x","cursor":[{"node":"a"}]}}`))
	f.Add([]byte(`{"v":1,"sig":"sha256=00","hop":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Add([]byte(`{"v":1,"hop":"` + string(make([]byte, 10)) + `"}`))

	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/flow/"+id+"/forward", bytes.NewReader(body))
		fe.srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict:
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		state := httptest.NewRecorder()
		fe.srv.ServeHTTP(state, httptest.NewRequest(http.MethodGet, "/flow/"+id+"/state", nil))
		if !bytes.Equal(state.Body.Bytes(), before) {
			t.Fatalf("body %q changed the request:\n%s\n%s", body, before, state.Body.Bytes())
		}
	})
}
