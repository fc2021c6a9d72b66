package main

import (
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/internal/testenv"
)

// TestTriggerS3SetsTheBucketNotificationOfARealMinIO runs `faasflow trigger
// s3` against a local gateway and a MinIO started with the webhook target
// the command prints: the bucket gets a notification of created objects
// under the prefix, sent to the target; a target MinIO does not have is an
// error that says so.
func TestTriggerS3SetsTheBucketNotificationOfARealMinIO(t *testing.T) {
	state := t.TempDir()
	l, err := gateway.StartLocal(context.Background(), gateway.LocalOptions{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	printed := cli(t, "", "trigger", "s3", "--print-env", "--state-dir", state, "--gateway", l.URL())
	for _, want := range []string{
		"MINIO_NOTIFY_WEBHOOK_ENABLE_FAASFLOW=on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_FAASFLOW=" + l.URL() + gateway.S3EventsPath,
		"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_FAASFLOW=" + l.S3WebhookToken(),
	} {
		if printed.code != 0 || !strings.Contains(printed.stdout, want+"\n") {
			t.Fatalf("print-env: %d %s %s: want %s", printed.code, printed.stdout, printed.stderr, want)
		}
	}
	var env []string
	for _, line := range strings.Split(printed.stdout, "\n") {
		if strings.HasPrefix(line, "MINIO_") && !strings.Contains(line, "QUEUE_DIR") {
			env = append(env, line)
		}
	}
	mi := testenv.MinIOWithEnv(t, env...)
	args := []string{"--bucket", "incoming", "--prefix", "uploads/", "--suffix", ".csv", "--create-bucket", "--state-dir", state, "--gateway", l.URL(),
		"--s3-url", mi.URL(), "--s3-access-key", mi.AccessKey, "--s3-secret-key", mi.SecretKey}
	if r := cli(t, "", append([]string{"trigger", "s3"}, args...)...); r.code != 0 {
		t.Fatalf("trigger s3: %d %s %s", r.code, r.stdout, r.stderr)
	}
	mc, err := minio.New(mi.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mi.AccessKey, mi.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := mc.GetBucketNotification(context.Background(), "incoming")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.QueueConfigs) != 1 || cfg.QueueConfigs[0].Queue != "arn:minio:sqs::FAASFLOW:webhook" ||
		len(cfg.QueueConfigs[0].Events) != 1 || cfg.QueueConfigs[0].Events[0] != "s3:ObjectCreated:*" ||
		cfg.QueueConfigs[0].Filter == nil || len(cfg.QueueConfigs[0].Filter.S3Key.FilterRules) != 2 {
		t.Fatalf("bucket notification: %+v", cfg.QueueConfigs)
	}
	if r := cli(t, "", append([]string{"trigger", "s3", "--target-id", "ELSEWHERE"}, args...)...); r.code == 0 || !strings.Contains(r.stderr, "no webhook target ELSEWHERE") {
		t.Fatalf("unknown target: %d %s %s", r.code, r.stdout, r.stderr)
	}
}
