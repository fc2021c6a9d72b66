// Package minio is the sdk.DataStore on MinIO or any S3-compatible service
// (AWS S3 included), built on github.com/minio/minio-go/v7.
//
// All data lives in one configured bucket, created by New if missing (never a
// bucket per request). A key becomes the object KeyPrefix + the key escaped
// segment by segment (see datastore/internal/keypath), so the engine's
// flow/request/... layout shows up as folders and hostile keys cannot name
// objects outside their prefix. An S3 PUT replaces an object atomically, so a
// reader sees the old or the new value, never a mix; values larger than
// Options.PartSize are uploaded as a multipart upload whose parts go up in
// parallel and which becomes visible only when complete.
//
// New checks the credentials and the permission to write and delete in the
// bucket once, with one clear error. Missing objects are sdk.ErrNotFound;
// network failures, timeouts and server-side 5xx errors wrap
// sdk.ErrStoreUnavailable and name the endpoint.
package minio
