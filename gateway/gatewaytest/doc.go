// Package gatewaytest builds the worker function the gateway's tests deploy: a
// golang-middleware function (built from template/golang-middleware with package build)
// whose paths misbehave on demand.
//
//	/               echo: "METHOD PATH?QUERY BODY"
//	/stream         echo of the body, written while it is read
//	/headers        request headers as JSON
//	/status/CODE    answers CODE (query retry_after sets Retry-After)
//	/sleep?d=DUR    sleeps, then answers "slept"
//	/crash          exits the process mid-request
//	/crash-once?marker=FILE  exits the first time (creating FILE), then answers "survived"
//	/fail-until?file=F&n=N   answers 500 until it was called N times, then "ok after N"
//	/env?k=NAME     the value of env NAME
//	/secret?name=N  the content of secret N
package gatewaytest
