// Package supervisor runs deployed functions as local processes.
//
// A function built from an HTTP template (golang-http, faas-flow) is one
// long-running process listening on a free 127.0.0.1 port given in env
// listen_addr; the supervisor health-checks GET /_/health, restarts a process
// that exits (exponential backoff), and forwards requests to it. A function
// given only an fprocess runs classic-watchdog style: one process per
// request, request body on stdin, stdout as the response. Each function's
// output is kept in a ring buffer and appended to <state dir>/logs/<fn>.log.
package supervisor
