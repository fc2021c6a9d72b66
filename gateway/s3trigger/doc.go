// Package s3trigger turns MinIO/S3 bucket notifications into flow starts:
// it decodes a notification's JSON (a MinIO webhook's body, an S3 event,
// or either inside an SNS message), matches its created objects against
// the bindings of flows to buckets, and gives each object version a
// deterministic request id and the request body a flow receives.
package s3trigger
