// Package integration runs whole flows through the engine on the real stores
// (embedded etcd and the MinIO server binary) and checks what the stores hold
// afterwards. It has tests only.
package integration
