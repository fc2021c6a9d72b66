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
//	POST /flow/{id}/forward        a signed hop from the gateway's async queue
//	GET  /flow/{id}/state          the request record
//	GET  /flow/{id}/result         the result of an ended request
//	POST /flow/{id}/pause|resume|stop
//	GET  /_/health, /healthz       health
//
// Engine errors become HTTP statuses in one place, StatusOf. Hops travel back
// to the flow through the gateway's /async-function endpoint
// (GatewayTransport); Apply, Request and Callback operations are HTTP calls
// (HTTPInvoker); completion callbacks are signed and retried in the
// background (CallbackNotifier).
package runtime
