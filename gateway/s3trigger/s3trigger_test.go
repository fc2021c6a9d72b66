package s3trigger_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/gateway/s3trigger"
)

// minioPut is the body MinIO's webhook target posts for a PUT of
// uploads/day one.csv in bucket incoming (trimmed of fields not read).
const minioPut = `{"EventName":"s3:ObjectCreated:Put","Key":"incoming/uploads/day one.csv","Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2026-01-02T03:04:05.678Z","eventName":"s3:ObjectCreated:Put","userIdentity":{"principalId":"admin"},"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"incoming","ownerIdentity":{"principalId":"admin"},"arn":"arn:aws:s3:::incoming"},"object":{"key":"uploads%2Fday+one.csv","size":12,"eTag":"0123abcd","contentType":"text/csv","versionId":"","sequencer":"1873A2B0C4D5E6F7"}}}]}`

func TestDecodeReadsMinIOS3AndSNSNotifications(t *testing.T) {
	s3Event := strings.Replace(minioPut, `"EventName":"s3:ObjectCreated:Put","Key":"incoming/uploads/day one.csv",`, "", 1)
	inner, _ := json.Marshal(s3Event)
	for _, tc := range []struct{ name, body string }{
		{"minio webhook", minioPut},
		{"s3 event", s3Event},
		{"sns envelope", `{"Type":"Notification","MessageId":"m","Message":` + string(inner) + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := s3trigger.Decode([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			want := s3trigger.Object{EventName: "s3:ObjectCreated:Put", EventTime: "2026-01-02T03:04:05.678Z", Bucket: "incoming",
				Key: "uploads/day one.csv", Size: 12, ETag: "0123abcd", Sequencer: "1873A2B0C4D5E6F7"}
			if len(objs) != 1 || objs[0] != want || !objs[0].Created() {
				t.Fatalf("got %+v, want %+v", objs, want)
			}
		})
	}
}

func TestDecodeReadsAnEventBridgeS3Event(t *testing.T) {
	body := `{"version":"0","id":"c9","detail-type":"Object Created","source":"aws.s3","account":"1","time":"2026-01-02T03:04:05Z","region":"eu-west-1","resources":["arn:aws:s3:::in"],"detail":{"version":"0","bucket":{"name":"in"},"object":{"key":"raw/a b+c:1.zip","size":198524144,"etag":"4af9-12","version-id":"uhgg","sequencer":"0064D3"},"request-id":"X","requester":"1","reason":"CompleteMultipartUpload"}}`
	objs, err := s3trigger.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := s3trigger.Object{EventName: "ObjectCreated:CompleteMultipartUpload", EventTime: "2026-01-02T03:04:05Z", Bucket: "in",
		Key: "raw/a b+c:1.zip", Size: 198524144, ETag: "4af9-12", VersionID: "uhgg", Sequencer: "0064D3"}
	if len(objs) != 1 || objs[0] != want || !objs[0].Created() {
		t.Fatalf("got %+v, want %+v", objs, want)
	}
}

func TestDecodeRefusesWhatIsNotANotification(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"not json", `hello`},
		{"no records", `{"EventName":"x"}`},
		{"empty record", `{"Records":[{}]}`},
		{"no bucket", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`},
		{"no key", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"}}}]}`},
		{"bad key escape", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}`},
		{"negative size", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}]}`},
		{"fractional size", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1.5}}}]}`},
		{"sns without an event", `{"Type":"Notification","Message":"nope"}`},
		{"too large", `{"Records":[` + strings.Repeat(" ", s3trigger.MaxBodyBytes) + `]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s3trigger.Decode([]byte(tc.body)); !errors.Is(err, s3trigger.ErrInvalidEvent) {
				t.Fatalf("Decode: %v, want ErrInvalidEvent", err)
			}
		})
	}
}

func TestRequestIDIsTheSameForOneObjectVersionOnly(t *testing.T) {
	base := s3trigger.Object{Bucket: "b", Key: "k", ETag: "e", VersionID: "v", Sequencer: "s"}
	if base.RequestID() != base.RequestID() {
		t.Fatal("not deterministic")
	}
	seen := map[string]string{base.RequestID(): "base"}
	for name, o := range map[string]s3trigger.Object{
		"bucket":    {Bucket: "b2", Key: "k", ETag: "e", VersionID: "v", Sequencer: "s"},
		"key":       {Bucket: "b", Key: "k2", ETag: "e", VersionID: "v", Sequencer: "s"},
		"etag":      {Bucket: "b", Key: "k", ETag: "e2", VersionID: "v", Sequencer: "s"},
		"version":   {Bucket: "b", Key: "k", ETag: "e", VersionID: "v2", Sequencer: "s"},
		"sequencer": {Bucket: "b", Key: "k", ETag: "e", VersionID: "v", Sequencer: "s2"},
		"shifted":   {Bucket: "b", Key: "ke", ETag: "", VersionID: "v", Sequencer: "s"},
	} {
		id := o.RequestID()
		if prev, dup := seen[id]; dup {
			t.Errorf("%s: same id as %s", name, prev)
		}
		seen[id] = name
		if len(id) > 128 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Errorf("%s: id %q is not a valid request id", name, id)
		}
	}
}

func TestBodyCarriesTheObject(t *testing.T) {
	o := s3trigger.Object{EventName: "s3:ObjectCreated:Put", EventTime: "t", Bucket: "b", Key: "a/b c", Size: 5, ETag: "e", VersionID: "v"}
	var got s3trigger.Body
	if err := json.Unmarshal(o.Body(), &got); err != nil {
		t.Fatal(err)
	}
	want := s3trigger.Body{Bucket: "b", Key: "a/b c", Size: 5, ETag: "e", VersionID: "v", EventName: "s3:ObjectCreated:Put", EventTime: "t"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestBindingsMatchBucketPrefixAndSuffix(t *testing.T) {
	bs, err := s3trigger.ParseBindings("etl", map[string]string{
		s3trigger.AnnotationBucket: "incoming/uploads/, archive", s3trigger.AnnotationSuffix: ".csv",
	})
	if err != nil || len(bs) != 2 {
		t.Fatalf("ParseBindings: %v %v", bs, err)
	}
	for _, tc := range []struct {
		bucket, key string
		want        bool
	}{
		{"incoming", "uploads/a.csv", true},
		{"incoming", "uploads/a.txt", false},
		{"incoming", "other/a.csv", false},
		{"archive", "any/where.csv", true},
		{"elsewhere", "uploads/a.csv", false},
	} {
		got := bs[0].Matches(tc.bucket, tc.key) || bs[1].Matches(tc.bucket, tc.key)
		if got != tc.want {
			t.Errorf("%s/%s: matched %v, want %v", tc.bucket, tc.key, got, tc.want)
		}
	}
	if none, err := s3trigger.ParseBindings("f", map[string]string{"other": "x"}); none != nil || err != nil {
		t.Errorf("no annotation: %v %v", none, err)
	}
	for _, bad := range []string{"", "/prefix", "a,,b", "buck et/x"} {
		if _, err := s3trigger.ParseBindings("f", map[string]string{s3trigger.AnnotationBucket: bad}); !errors.Is(err, s3trigger.ErrInvalidBinding) {
			t.Errorf("%q: %v, want ErrInvalidBinding", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(minioPut))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"Records\":[]}"}`))
	f.Add([]byte(`{"Records":[{"eventName":"x","s3":{"bucket":{"name":"b"},"object":{"key":"%41","size":"1e3"}}}]}`))
	f.Add([]byte(`{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"k"},"reason":"PutObject"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		objs, err := s3trigger.Decode(body)
		if err != nil {
			if !errors.Is(err, s3trigger.ErrInvalidEvent) {
				t.Fatalf("error %v does not wrap ErrInvalidEvent", err)
			}
			return
		}
		if len(objs) == 0 {
			t.Fatal("no error and no objects")
		}
		for _, o := range objs {
			if o.Bucket == "" || o.Key == "" || o.EventName == "" || o.Size < 0 {
				t.Fatalf("decoded an invalid object %+v", o)
			}
			var b s3trigger.Body
			if err := json.Unmarshal(o.Body(), &b); err != nil {
				t.Fatalf("body of %+v: %v", o, err)
			}
		}
	})
}
