// Package dashboard serves the faas-flow dashboard: a static page (embedded)
// and a small same-origin JSON API that reads flows, their DAGs and their
// requests through the public HTTP surface of an OpenFaaS-compatible
// gateway, and forwards pause, resume, stop and redrive, with the gateway's
// basic auth, so that the browser never holds the gateway's password. The
// local gateway mounts it at /ui/; cmd/faasflow-dashboard runs the same
// handler as an OpenFaaS function. It imports only the standard library.
package dashboard
