// Package testenv starts real servers for tests: an embedded etcd
// (go.etcd.io/etcd/server/v3/embed) and the real MinIO server binary. Every
// server binds to 127.0.0.1 on free ports, keeps its data in a test temp
// directory, is stopped by t.Cleanup, and can be stopped and restarted on the
// same address and data for fault tests.
//
// A server that cannot start fails the test with t.Fatal and a message saying
// how to fix it; nothing here ever skips.
package testenv
