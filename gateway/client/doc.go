// Package client talks to an OpenFaaS gateway (the local one or a real one)
// the way faas-cli does: deploy with PUT then POST on 404, invoke sync and
// async, read logs, and build through the remote-builder endpoint. DeployStack
// builds and deploys every function of a stack file.
package client
