// Package gatewayhttp carries a flow's hops through an OpenFaaS gateway's
// asynchronous endpoint: each hop is POSTed to
// <gateway>/async-function/<flow>/flow/<id>/forward, the gateway queues it,
// and its queue worker later calls the flow function's forward route. This
// is the transport of flow functions on a real OpenFaaS.
package gatewayhttp
