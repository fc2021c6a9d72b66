// Command faasflow-dashboard runs the faas-flow dashboard (package
// dashboard) as a stand-alone HTTP server, for example as an OpenFaaS
// function of its own: it serves the page at / and its health at /_/health
// on port 8080, and reads flows through the gateway at $gateway_url with the
// login in the secrets basic-auth-user and basic-auth-password. See
// docs/gateway.md, "Dashboard".
package main
