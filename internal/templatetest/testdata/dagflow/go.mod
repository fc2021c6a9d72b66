module handler/function

go 1.26

require github.com/faas-flow/faas-flow v0.1.0
