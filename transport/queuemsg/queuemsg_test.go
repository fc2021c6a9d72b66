package queuemsg

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// The queued message is the JSON of OpenFaaS CE's queue request.
func TestQueuedMessageIsCEQueueRequestJSON(t *testing.T) {
	cb, _ := url.Parse("http://127.0.0.1:18081/callback/here")
	req := Request{
		Header: http.Header{"X-Custom": {"c1"}}, Host: "127.0.0.1:8080", Body: []byte("payload-1"),
		Method: "POST", Path: "/sub/p", QueryString: "q=1", Function: "minimal", CallbackURL: cb,
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["Body"] != "cGF5bG9hZC0x" {
		t.Errorf("Body = %v, want base64", m["Body"])
	}
	for _, k := range []string{"Header", "Host", "Method", "Path", "QueryString", "Function", "CallbackUrl"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %s missing from %s", k, b)
		}
	}
	for _, k := range []string{"QueueName", "Annotations", "Labels", "Environment"} {
		if _, ok := m[k]; ok {
			t.Errorf("empty field %s not omitted", k)
		}
	}
	cbm, ok := m["CallbackUrl"].(map[string]any)
	if !ok || cbm["Scheme"] != "http" || cbm["Host"] != "127.0.0.1:18081" || cbm["Path"] != "/callback/here" {
		t.Errorf("CallbackUrl = %v, want an encoded url.URL", m["CallbackUrl"])
	}
	got, err := Decode(b)
	if err != nil || got.CallbackURL.String() != cb.String() || string(got.Body) != "payload-1" {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func TestDecodeAcceptsPlainStringCallbackURL(t *testing.T) {
	got, err := Decode([]byte(`{"Function":"f","CallbackUrl":"http://h/cb"}`))
	if err != nil || got.CallbackURL == nil || got.CallbackURL.Host != "h" || got.Method != "POST" {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	for _, bad := range []string{`{}`, `{"Function":"f","CallbackUrl":"ftp://x"}`, `nope`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"Function":"f","Body":"aGk=","CallbackUrl":{"Scheme":"http","Host":"h"}}`))
	f.Add([]byte(`{"Function":"f","CallbackUrl":"http://h/cb"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := Decode(b)
		if err == nil && req.Function == "" {
			t.Fatal("decoded a request without a function")
		}
	})
}

func TestSubjectIsOnePerFunctionWhateverItsSpelling(t *testing.T) {
	tests := []struct{ fn, want string }{
		{"hello", "faas-request.hello"},
		{"hello.openfaas-fn", "faas-request.hello"},
		{"hello.other-ns", "faas-request.hello_other-ns"},
		{"a b*c>", "faas-request.a_b_c_"},
	}
	for _, tc := range tests {
		if got := Subject(tc.fn); got != tc.want {
			t.Errorf("Subject(%q) = %q, want %q", tc.fn, got, tc.want)
		}
	}
}
