// Package embedded starts the in-process servers the local gateway runs on
// by default: a NATS server with JetStream (file storage under a directory)
// and a single-node etcd. Both bind to 127.0.0.1 only.
package embedded
