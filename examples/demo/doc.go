// Package demo runs every example flow through an OpenFaaS-compatible
// gateway and checks each result: the main job of `faasflow demo`, reused by
// the end-to-end tests.
package demo
