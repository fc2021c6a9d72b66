module handler/function

go 1.26

require github.com/faas-flow/faas-flow v0.1.0

// For go test and editors in this folder, in a project laid out by
// faas-cli template pull and faas-cli new (./template, ./<function>): the
// SDK the template carries. A build uses the template's own go.mod.
replace github.com/faas-flow/faas-flow => ../template/faas-flow/third_party/faas-flow
