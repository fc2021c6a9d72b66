package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/faas-flow/faas-flow/gateway"
)

// localFlags are the flags of commands that start their own local stack
// (demo, bench).
type localFlags struct {
	stateDir string
	file     string
	verbose  bool
	procs    procsFlag
	gogc     gcFlag
	// s3 is MinIO/S3 for flow data, when the command registered its flags
	// (registerS3) and they were given.
	s3 s3Flags
}

// s3Flags select MinIO/S3 for the flow data of a stack a command starts.
type s3Flags struct {
	url, bucket, accessKey, secretKey string
}

// registerS3 adds the flags of s3Flags to fs.
func (l *localFlags) registerS3(fs *flag.FlagSet) {
	fs.StringVar(&l.s3.url, "s3-url", "", "MinIO/S3 endpoint for flow data (default: local data dir); the object ETL example runs only with it")
	fs.StringVar(&l.s3.bucket, "s3-bucket", "faasflow", "bucket for flow data (with --s3-url)")
	fs.StringVar(&l.s3.accessKey, "s3-access-key", "", "S3 access key (default $S3_ACCESS_KEY)")
	fs.StringVar(&l.s3.secretKey, "s3-secret-key", "", "S3 secret key (default $S3_SECRET_KEY)")
}

func (l *localFlags) register(fs *flag.FlagSet, defStateDir, defFile string) {
	fs.StringVar(&l.stateDir, "state-dir", defStateDir, "state dir of the stack this command starts (kept between runs: builds are cached)")
	fs.StringVar(&l.file, "f", defFile, "stack file to deploy")
	fs.BoolVar(&l.verbose, "verbose", false, "log gateway events")
	l.procs.register(fs)
	l.gogc.register(fs)
}

// startAndDeploy starts a local stack on a free port and deploys the stack
// file, printing its progress on stderr.
func (l *localFlags) startAndDeploy(ctx context.Context, e env) (*gateway.Local, error) {
	o := gateway.LocalOptions{StateDir: l.stateDir, FunctionProcs: l.procs.apply(e), FunctionGOGC: l.gogc.apply(e)}
	if l.s3.url != "" {
		o.S3URL, o.S3Bucket, o.S3AccessKey, o.S3SecretKey = l.s3.url, l.s3.bucket, l.s3.accessKey, l.s3.secretKey
		s3KeysFromEnv(e, &o.S3AccessKey, &o.S3SecretKey)
	}
	if l.verbose {
		o.Logger = slog.New(slog.NewTextHandler(e.stderr, nil))
	}
	start := time.Now()
	loc, err := gateway.StartLocal(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("start the local stack: %w", err)
	}
	fmt.Fprintf(e.stderr, "local stack up in %s: gateway %s, NATS %s, etcd %v, state %s\n",
		time.Since(start).Round(time.Millisecond), loc.URL(), loc.NATSURL(), loc.EtcdEndpoints(), loc.StateDir())
	fmt.Fprintf(e.stderr, "deploying %s (first run builds every function, about a minute)\n", l.file)
	start = time.Now()
	if err := loc.Deploy(ctx, l.file, e.stderr); err != nil {
		_ = loc.Close()
		return nil, fmt.Errorf("deploy %s: %w", l.file, err)
	}
	fmt.Fprintf(e.stderr, "deployed in %s\n", time.Since(start).Round(time.Millisecond))
	return loc, nil
}

// s3KeysFromEnv fills the S3 access and secret keys not given as flags
// from $S3_ACCESS_KEY and $S3_SECRET_KEY.
func s3KeysFromEnv(e env, accessKey, secretKey *string) {
	if *accessKey == "" {
		*accessKey = e.getenv("S3_ACCESS_KEY")
	}
	if *secretKey == "" {
		*secretKey = e.getenv("S3_SECRET_KEY")
	}
}
