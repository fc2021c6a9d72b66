module handler

go 1.26

require (
	github.com/faas-flow/faas-flow v0.1.0
	handler/function v0.0.0
)

replace handler/function => ./function

// The SDK comes with the template (third_party/faas-flow, a copy of the
// module's packages), not from the module proxy.
replace github.com/faas-flow/faas-flow => ./third_party/faas-flow
