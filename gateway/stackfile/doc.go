// Package stackfile parses OpenFaaS stack files (stack.yml) with faas-cli
// semantics: ${VAR} and ${VAR:-default} substitution before parsing, version
// 1.0 only, provider openfaas, environment_file entries merged over
// environment in order, and template.yml files of templates.
package stackfile
