// Package callbackguard keeps callbacks away from a stack's internal
// services. A callback URL comes from whoever made the call, so without a
// check it lets anyone make the sender POST to the stack's own etcd, NATS
// or MinIO from inside the machine.
//
// A Guard is built from the addresses of those services and an allow-list.
// A service on a loopback or unspecified address (or localhost) protects
// its port on every local address of the machine; one on another IP
// protects that address only. A Guard refuses a destination that resolves
// to a protected address unless the allow-list names it. Guard.Client
// checks again at connect time, so a redirect or a name that resolves
// differently the second time cannot slip past the check. The local
// gateway's queue worker and the flow runtime's completion callbacks share
// it. It uses only the standard library.
package callbackguard
