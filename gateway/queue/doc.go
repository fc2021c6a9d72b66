// Package queue carries asynchronous invocations over NATS JetStream.
//
// The gateway publishes each async request as one message on the stream
// "faas-request" (subject "faas-request.<function>"); the body is the JSON of
// queuemsg.Request (the OpenFaaS CE shape: Go field names, base64 Body,
// CallbackUrl as an encoded net/url.URL) and the NATS headers carry
// Nats-Msg-Id (the call id, so a re-published call inside the duplicate
// window is stored once), Faasflow-Function and the W3C trace context
// (traceparent, tracestate).
//
// A Worker reads each function's subject through a durable pull consumer
// of its own ("faas-workers-<function>"), shares its Concurrency slots
// between them first come, first served (so one function's backlog cannot
// hold back another's calls), and invokes POST
// <gateway>/function/<Function><Path>?<QueryString> with the queued
// headers. It acks after the call, NAKs with exponential backoff when the
// function answered 5xx or could not be reached (honouring Retry-After on
// 503), keeps long calls alive with in-progress acks, lets JetStream
// redeliver after AckWait when the worker dies, and gives up after
// MaxDeliver attempts. A 429 (a busy function) spends no attempt: the call
// is kept and made again after its Retry-After, for as long as it takes.
// When the request had an X-Callback-Url, the final result is POSTed there
// with the function's response headers plus X-Call-Id, X-Function-Status,
// X-Function-Name and X-Duration-Seconds, retrying the callback a few
// times. WorkerOptions.CallbackGuard refuses (and logs) a callback to the
// stack's own services, without affecting the call it reports on.
//
// EnsureStream can bound the calls queued per function
// (StreamOptions.MaxPerSubject): JetStream then refuses a publish past the
// bound (natsqueue.ErrQueueFull) and keeps what it holds.
package queue
