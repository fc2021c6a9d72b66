// Package e2e holds the end-to-end tests: the local gateway with real NATS
// JetStream, etcd and MinIO, the repository's stack.yml deployed, and every
// example driven over HTTP the way users call flows.
package e2e
