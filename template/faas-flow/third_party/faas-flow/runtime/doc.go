// Package runtime turns a flow definition into an OpenFaaS function.
//
// The template's main.go calls Run with the user's Define function. Run reads
// the configuration once (LoadConfig: environment variables and OpenFaaS
// secret files, described by one table, Settings), opens the state and data
// stores, builds an engine.Engine and serves the flow function's HTTP surface
// behind the of-watchdog:
//
//	GET|POST /                     start a request (query controls: export-dag,
//	                               dag, state, pause-flow, resume-flow, stop-flow, wait)
//	POST /flow/{id}/forward        a signed hop, posted by the queue worker
//	GET  /flow/{id}/state          the request record
//	GET  /flow/{id}/result         the result of an ended request
//	POST /flow/{id}/pause|resume|stop
//	GET  /_/health, /healthz       health
//	GET  /metrics                  metrics, when a metrics handler is set
//	GET  /debug/pprof/             Go's profiler, when debug_pprof=true
//
// Engine errors become HTTP statuses in one place, StatusOf. Hops travel back
// to the flow through a queue: by default they are posted to the gateway's
// /async-function endpoint (gatewayhttp.Transport), and with
// hop_transport=nats they are published to the faasflow local gateway's
// JetStream queue (natsqueue.Transport); either way a queue worker then
// posts each hop to /flow/{id}/forward. Apply, Request and Callback
// operations are HTTP calls (HTTPInvoker); completion callbacks are signed
// and retried in the background (CallbackNotifier). Every request's end is
// also published as a signed completion event, on NATS JetStream and/or to
// an HTTP endpoint, when the events_* settings ask for it (EventPublisher).
package runtime

// Where things are (a note for readers of the source, not package
// documentation):
//
//	run.go            Run, the template's entry point
//	options.go        Options and the With... functions
//	config.go         Config, LoadConfig and the value parsers
//	settings.go       the settings table (Settings) LoadConfig reads
//	configdoc.go      WriteConfigDoc: docs/configuration.md from Settings
//	secrets.go        SecretReader, FileSecrets, MapSecrets
//	server.go         Server, NewServer, Serve, Close
//	routes.go         ServeHTTP: routing, health, request body and context
//	start.go          starting a request (GET|POST /), ?wait, X-Hub-Signature
//	control.go        /flow/{id}/state, /result, /pause, /resume, /stop
//	hops.go           /flow/{id}/forward, the hops
//	dag.go            ?export-dag and ?dag
//	pprof.go          /debug/pprof/
//	respond.go        JSON and error answers
//	status.go         StatusOf: engine errors to HTTP statuses
//	invoker.go        HTTPInvoker: Apply, Request and Callback calls
//	notifier.go       CallbackNotifier: completion callbacks
//	events.go         EventPublisher: completion events, their subjects and ids
//	eventsink.go      where events go: NATS JetStream, HTTP
//	httpclient.go     NewHTTPClient, the client of every outbound call
//	stores.go         the state and data stores
//	observability.go  Observability: default tracing and metrics
//	gcfloor.go        gc_heap_floor
//	version.go        SDKVersion
