package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/gateway/s3trigger"
)

// triggerUsage lists the subcommands of `faasflow trigger`.
const triggerUsage = `Usage: faasflow trigger s3 --bucket B [--prefix P] [--suffix S] --s3-url URL [flags]

Makes MinIO post a notification to the gateway (` + gateway.S3EventsPath + `) for every
object created in the bucket, and prints the environment MinIO's webhook target needs
(MinIO reads it only when it starts). Flows bound to the bucket with the annotation
` + s3trigger.AnnotationBucket + ` start once per object: see docs/events.md.
`

// triggerFlags are the flags of `faasflow trigger s3`.
type triggerFlags struct {
	g                        gatewayFlags
	bucket, prefix, suffix   string
	s3URL, accessKey, secret string
	target, flow             string
	printEnv, create         bool
}

func runTrigger(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: s3")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(e.stderr, triggerUsage)
		return flag.ErrHelp
	case "s3":
		return triggerS3(ctx, e, args[1:])
	}
	return usagef("unknown subcommand %q: want s3", args[0])
}

func triggerS3(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("trigger s3", e, "trigger s3 --bucket B [--prefix P] [--suffix S] --s3-url URL [flags]")
	var f triggerFlags
	f.g.register(fs)
	fs.StringVar(&f.bucket, "bucket", "", "bucket whose new objects are notified (required)")
	fs.StringVar(&f.prefix, "prefix", "", "notify only the keys starting so")
	fs.StringVar(&f.suffix, "suffix", "", "notify only the keys ending so")
	fs.StringVar(&f.s3URL, "s3-url", "", "MinIO endpoint, e.g. http://127.0.0.1:9000 (required unless --print-env)")
	fs.StringVar(&f.accessKey, "s3-access-key", "", "MinIO access key (default $S3_ACCESS_KEY)")
	fs.StringVar(&f.secret, "s3-secret-key", "", "MinIO secret key (default $S3_SECRET_KEY)")
	fs.StringVar(&f.target, "target-id", "FAASFLOW", "ID of MinIO's webhook target (the <ID> of MINIO_NOTIFY_WEBHOOK_*_<ID>)")
	fs.StringVar(&f.flow, "flow", "", "warn unless this deployed flow is bound to the bucket")
	fs.BoolVar(&f.printEnv, "print-env", false, "only print MinIO's environment for the webhook target")
	fs.BoolVar(&f.create, "create-bucket", false, "create the bucket when it does not exist")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if f.bucket == "" && !f.printEnv {
		return usagef("--bucket is required")
	}
	f.printMinIOEnv(e)
	if f.printEnv {
		return nil
	}
	if f.flow != "" {
		f.checkBinding(ctx, e)
	}
	return f.setNotification(ctx, e)
}

// printMinIOEnv prints the variables of MinIO's webhook target.
func (f *triggerFlags) printMinIOEnv(e env) {
	token := readTrim(filepath.Join(f.g.dir(e), "auth", "s3-webhook-token"))
	if token == "" {
		token = "<the token of faasflow up --s3-webhook-token>"
	}
	id := strings.ToUpper(f.target)
	fmt.Fprintf(e.stdout, "# MinIO's webhook target (set before MinIO starts):\n")
	fmt.Fprintf(e.stdout, "MINIO_NOTIFY_WEBHOOK_ENABLE_%s=on\n", id)
	fmt.Fprintf(e.stdout, "MINIO_NOTIFY_WEBHOOK_ENDPOINT_%s=%s%s\n", id, f.g.url(e, ""), gateway.S3EventsPath)
	fmt.Fprintf(e.stdout, "MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_%s=%s\n", id, token)
	fmt.Fprintf(e.stdout, "# keeps notifications while the gateway is down, and retries them:\n")
	fmt.Fprintf(e.stdout, "MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_%s=/path/to/minio-events\n", id)
}

// checkBinding warns when flow is not deployed with a binding that
// matches the bucket and prefix.
func (f *triggerFlags) checkBinding(ctx context.Context, e env) {
	st, err := f.g.client(e, "").Function(ctx, f.flow)
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: flow %s: %v\n", f.flow, err)
		return
	}
	var ann map[string]string
	if st.Annotations != nil {
		ann = *st.Annotations
	}
	bs, err := s3trigger.ParseBindings(f.flow, ann)
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: %v\n", err)
		return
	}
	for _, b := range bs {
		if b.Matches(f.bucket, f.prefix+"x"+f.suffix) || b.Matches(f.bucket, f.prefix+f.suffix) {
			return
		}
	}
	fmt.Fprintf(e.stderr, "warning: flow %s is not bound to %s/%s: add the annotation %s: %s/%s to it in the stack file and deploy it again\n",
		f.flow, f.bucket, f.prefix, s3trigger.AnnotationBucket, f.bucket, f.prefix)
}

// setNotification adds the webhook target's queue configuration to the
// bucket's notification configuration.
func (f *triggerFlags) setNotification(ctx context.Context, e env) error {
	if f.s3URL == "" {
		return usagef("--s3-url is required")
	}
	u, err := url.Parse(f.s3URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--s3-url %q: want http(s)://host:port", f.s3URL)
	}
	s3KeysFromEnv(e, &f.accessKey, &f.secret)
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(f.accessKey, f.secret, ""), Secure: u.Scheme == "https"})
	if err != nil {
		return err
	}
	if f.create {
		if err := mc.MakeBucket(ctx, f.bucket, minio.MakeBucketOptions{}); err != nil {
			if exists, eerr := mc.BucketExists(ctx, f.bucket); eerr != nil || !exists {
				return fmt.Errorf("create bucket %s: %w", f.bucket, err)
			}
		}
	}
	cfg, err := mc.GetBucketNotification(ctx, f.bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", f.bucket, err)
	}
	q := notification.NewConfig(notification.NewArn("minio", "sqs", "", strings.ToUpper(f.target), "webhook"))
	q.AddEvents(notification.ObjectCreatedAll)
	if f.prefix != "" {
		q.AddFilterPrefix(f.prefix)
	}
	if f.suffix != "" {
		q.AddFilterSuffix(f.suffix)
	}
	if !cfg.AddQueue(q) {
		fmt.Fprintf(e.stdout, "bucket %s already notifies the target %s of these objects\n", f.bucket, f.target)
		return nil
	}
	if err := mc.SetBucketNotification(ctx, f.bucket, cfg); err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && strings.Contains(strings.ToLower(er.Message+er.Code), "arn") {
			return fmt.Errorf("MinIO has no webhook target %s: start it with the environment above: %w", f.target, err)
		}
		return fmt.Errorf("set the notification of bucket %s: %w", f.bucket, err)
	}
	fmt.Fprintf(e.stdout, "bucket %s now notifies %s of the objects created under %q\n", f.bucket, gateway.S3EventsPath, f.prefix+"*"+f.suffix)
	return nil
}
