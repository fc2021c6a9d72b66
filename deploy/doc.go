// Package deploy keeps the files that run flow functions on OpenFaaS on
// Kubernetes — the manifests of kubernetes/ (etcd, MinIO, the secrets, the
// network policy) and stack.yml — and checks them statically: its tests
// parse every file and cross-check names, hosts, ports, secrets, the etcd
// member list and the bucket against each other and against
// docs/configuration.md. It has no code of its own outside its tests.
package deploy
