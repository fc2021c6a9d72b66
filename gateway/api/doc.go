// Package api declares the OpenFaaS wire types the local gateway speaks: the
// provider API's JSON bodies (FunctionDeployment, FunctionStatus, …), the
// queued async request (QueueRequest, in the OpenFaaS CE JSON shape), the
// remote-builder request and reply, and helpers for function names.
//
// The types are re-declared from the public OpenFaaS contracts (field names and
// omitempty rules match the faas-provider types) so that faas-cli and other
// OpenFaaS clients talk to the local gateway unchanged.
package api
