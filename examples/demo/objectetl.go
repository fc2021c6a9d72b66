package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	objectetl "github.com/faas-flow/faas-flow/examples/objectetl"
	"github.com/faas-flow/faas-flow/statestore/etcd"
)

// ObjectStack is what the object ETL demo needs of a stack: its gateway,
// the MinIO/S3 its flows use, and the etcd holding the flow's rules.
type ObjectStack struct {
	GatewayURL                           string
	S3Endpoint, S3AccessKey, S3SecretKey string
	EtcdEndpoints                        []string
	EtcdUser, EtcdPassword               string
}

// ReadSecrets fills the S3 keys and the etcd login from the secret files
// of the local stack (its secrets folder), leaving those already set.
func (s *ObjectStack) ReadSecrets(dir string) error {
	for name, v := range map[string]*string{
		"s3-access-key": &s.S3AccessKey, "s3-secret-key": &s.S3SecretKey,
		"etcd-username": &s.EtcdUser, "etcd-password": &s.EtcdPassword,
	} {
		if *v != "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("secret %s: %w", name, err)
		}
		*v = strings.TrimSpace(string(b))
	}
	return nil
}

// Buckets of the object ETL demo.
const (
	IncomingBucket = "incoming"
	OutgoingBucket = objectetl.DefaultOutputBucket
)

// ObjectETLFiles are the files the demo puts in the incoming bucket: a
// valid CSV and a valid XML file of about 3 MB each, with some records
// wrong on purpose, and an XML file cut short. They are the same at every
// run.
func ObjectETLFiles() map[string][]byte {
	return map[string][]byte{
		"orders/2026-12-06.csv": objectetl.SampleCSV(80000),
		"orders/2026-12-06.xml": objectetl.SampleXML(25000),
		"orders/broken.xml":     objectetl.SampleBroken(),
	}
}

// ObjectOutcome is the result of the flow for one file.
type ObjectOutcome struct {
	Key       string
	RequestID string
	Summary   objectetl.Summary
	Report    objectetl.Report
}

// RunObjectETL saves the sample rules for the objectetl flow, uploads
// ObjectETLFiles, starts the flow for each with the event body a bucket
// notification posts, and writes what it wrote to out. It returns an error
// when a file did not end as expected: a valid file with its result and
// fault report, the broken one with a fault report of the whole file.
func RunObjectETL(ctx context.Context, s ObjectStack, out io.Writer) ([]ObjectOutcome, error) {
	mc, err := minio.New(strings.TrimPrefix(s.S3Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(s.S3AccessKey, s.S3SecretKey, "")})
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	if err := SaveSampleRules(ctx, s); err != nil {
		return nil, err
	}
	files := ObjectETLFiles()
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := UploadObjectETLFiles(ctx, mc, files); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	var outcomes []ObjectOutcome
	var failed []string
	for _, k := range keys {
		o, err := runObjectETLOnce(ctx, hc, mc, s.GatewayURL, k, int64(len(files[k])))
		if err == nil && (strings.HasPrefix(k, "orders/broken") != (o.Summary.Status == objectetl.StatusFileRejected)) {
			err = fmt.Errorf("status %s", o.Summary.Status)
		}
		mark := "ok  "
		if err != nil {
			mark = "FAIL"
			failed = append(failed, fmt.Sprintf("%s: %v", k, err))
		}
		outcomes = append(outcomes, o)
		fmt.Fprintf(out, "%s objectetl    %s/%s (%d bytes) -> %s: %d records, %d written, %d filtered, %d rejected\n     request %s; wrote %s\n",
			mark, IncomingBucket, k, len(files[k]), o.Summary.Status, o.Summary.Records, o.Summary.Accepted, o.Summary.Filtered,
			o.Summary.Rejected, o.RequestID, strings.TrimSpace(o.Summary.Output+" "+o.Summary.Faults))
		if len(o.Report.Faults) > 0 {
			f, _ := json.Marshal(o.Report.Faults[0])
			fmt.Fprintf(out, "     first fault: %s\n", f)
		}
	}
	if len(failed) > 0 {
		return outcomes, fmt.Errorf("object ETL: %s", strings.Join(failed, "; "))
	}
	return outcomes, nil
}

// SaveSampleRules stores objectetl.SampleRules as the rules of the
// objectetl flow in the stack's etcd.
func SaveSampleRules(ctx context.Context, s ObjectStack) error {
	st, err := etcd.New(ctx, etcd.Options{Endpoints: s.EtcdEndpoints, Username: s.EtcdUser, Password: s.EtcdPassword})
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer st.Close()
	if err := objectetl.SaveRules(ctx, st, "objectetl", []byte(objectetl.SampleRules)); err != nil {
		return err
	}
	return nil
}

// UploadObjectETLFiles puts files in the incoming bucket, creating it if
// it does not exist.
func UploadObjectETLFiles(ctx context.Context, mc *minio.Client, files map[string][]byte) error {
	err := mc.MakeBucket(ctx, IncomingBucket, minio.MakeBucketOptions{})
	if code := minio.ToErrorResponse(err).Code; err != nil && code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
		return fmt.Errorf("bucket %s: %w", IncomingBucket, err)
	}
	for k, b := range files {
		if _, err := mc.PutObject(ctx, IncomingBucket, k, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
			return fmt.Errorf("upload %s: %w", k, err)
		}
	}
	return nil
}

// runObjectETLOnce starts the flow for key, waits for its summary and
// reads the fault report it wrote.
func runObjectETLOnce(ctx context.Context, hc *http.Client, mc *minio.Client, gatewayURL, key string, size int64) (ObjectOutcome, error) {
	o := ObjectOutcome{Key: key}
	info, err := mc.StatObject(ctx, IncomingBucket, key, minio.StatObjectOptions{})
	if err != nil {
		return o, err
	}
	ev, _ := json.Marshal(objectetl.Event{Bucket: IncomingBucket, Key: key, Size: size, ETag: info.ETag, VersionID: info.VersionID,
		EventName: "s3:ObjectCreated:Put", EventTime: info.LastModified.UTC().Format(time.RFC3339)})
	status, body, id, err := Invoke(ctx, hc, gatewayURL, "objectetl", string(ev), time.Minute)
	o.RequestID = id
	if err != nil {
		return o, err
	}
	if status != http.StatusOK {
		return o, fmt.Errorf("status %d: %s", status, shorten(body, 300))
	}
	if err := json.Unmarshal([]byte(body), &o.Summary); err != nil {
		return o, fmt.Errorf("summary %q: %w", shorten(body, 100), err)
	}
	obj, err := mc.GetObject(ctx, OutgoingBucket, objectetl.FaultsKey(key), minio.GetObjectOptions{})
	if err != nil {
		return o, err
	}
	defer obj.Close()
	if err := json.NewDecoder(obj).Decode(&o.Report); err != nil {
		return o, fmt.Errorf("fault report: %w", err)
	}
	return o, nil
}
