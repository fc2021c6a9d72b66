module handler

go 1.26

require (
	github.com/faas-flow/faas-flow v0.1.0
	handler/function v0.0.0
)

replace handler/function => ./function

replace github.com/faas-flow/faas-flow => /work/main
