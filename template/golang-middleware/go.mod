module handler

go 1.24

require handler/function v0.0.0

replace handler/function => ./function
