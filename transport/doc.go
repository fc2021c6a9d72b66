// Package transport gathers the ways a flow's hops travel from the
// invocation that emits them to the invocation that runs them. Each
// subpackage implements engine.Transport:
//
//   - gatewayhttp: through an OpenFaaS gateway's asynchronous endpoint (a
//     real OpenFaaS);
//   - natsqueue: published straight to the local gateway's JetStream queue;
//   - loopback: in process, for tests and flowtest.
//
// queuemsg is the queued message format the gateway and natsqueue share.
// The package itself holds no code.
package transport
