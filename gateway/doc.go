// Package gateway is the local OpenFaaS-compatible gateway: the OpenFaaS
// gateway and provider HTTP API in one process, serving functions that run as
// supervised local processes, with async invocations queued on NATS
// JetStream.
//
// Server is the HTTP API (routes, auth, metrics, tracing). StartLocal starts
// the whole local stack under one state directory: embedded NATS JetStream
// and etcd (or external ones), the persisted function registry, the process
// supervisor, the queue worker and the Server, so that faas-cli and the
// faasflow CLI can deploy, build (remote builder endpoint) and invoke
// functions on one machine with no Docker or Kubernetes. It keeps the flows'
// completion events in a stream (events.go) and starts flows from MinIO/S3
// bucket notifications (s3events.go). See docs/gateway.md and
// docs/events.md.
package gateway
