// Package builder turns a function's handler folder and its template into a
// runnable binary without Docker.
//
// It reproduces faas-cli's build context ("shrinkwrap"): a copy of
// template/<lang>/, then the handler's entries copied into the template's
// handler folder (default function/), so template files the user deleted come
// back and the handler's own build/ and template/ folders are skipped. It then
// compiles the context with the local Go toolchain (CGO off, the same program
// the template's Dockerfile builds). When the context requires
// github.com/faas-flow/faas-flow, a replace directive pointing at a local SDK
// checkout is added so the project's own code builds offline.
package builder
