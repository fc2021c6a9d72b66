// Package natsqueue publishes asynchronous calls to a NATS JetStream queue in
// the queuemsg format, and carries a flow's hops that way (Transport): a hop
// is published straight to the queue the local gateway's worker reads, one
// HTTP round trip less than posting it to the gateway's async endpoint.
package natsqueue
