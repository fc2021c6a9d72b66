// Package remotebuild implements the wire format of faas-cli's remote
// builder: a tar holding the shrink-wrapped build context under context/ and
// the build configuration file com.openfaas.docker.config, signed with
// HMAC-SHA256 over the whole tar in the X-Build-Signature header
// ("sha256=<hex>").
package remotebuild
