// Package queuemsg is the format of an asynchronous call waiting in the
// queue: the JSON of OpenFaaS's queue request (Go field names, the body in
// base64, the callback URL as an encoded net/url.URL), the JetStream stream
// and subject it is published on, and the size limit of a queued body.
//
// The local gateway's async endpoint and queue worker, and the NATS hop
// transport of flow functions, all read and write this one format. It uses
// only the standard library.
package queuemsg
