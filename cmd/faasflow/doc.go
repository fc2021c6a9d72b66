// Command faasflow runs faas-flow on one machine: `faasflow up` starts a local
// OpenFaaS-compatible gateway with embedded NATS JetStream and etcd, and the
// other subcommands deploy, invoke and inspect functions and flows through
// any OpenFaaS gateway. Run `faasflow help` for the list.
package main
