// Package e2e holds the end-to-end tests: the local gateway with real NATS
// JetStream, etcd and MinIO, the repository's stack.yml deployed, and every
// example driven over HTTP the way users call flows, and the dashboard
// driven in a real browser (Chromium, through chromedp).
package e2e
