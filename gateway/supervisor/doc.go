// Package supervisor runs deployed functions as local processes.
//
// A function built from an HTTP template (golang-middleware, faas-flow) runs as
// one or more replicas, each a long-running process listening on a free
// 127.0.0.1 port given in env listen_addr. The supervisor health-checks
// each replica (GET /_/health), restarts a process that exits (exponential
// backoff), scales the number of replicas up and down, and forwards each
// request to the ready replica with the fewest calls in flight, moving it
// to another replica when the connection is refused. A function given only
// an fprocess runs classic-watchdog style: one process per request,
// request body on stdin, stdout as the response. The output of all of a
// function's processes is kept in one ring buffer and appended to
// <state dir>/logs/<fn>.log; each line names the process it came from.
package supervisor
