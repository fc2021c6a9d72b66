package builder

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDockerfileStepsAreTheRunsAfterTheContextIsCopiedIn(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		want       []Step
		err        bool
	}{
		{
			name: "runs in the context and its function folder, with the build arguments",
			dockerfile: `ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
ARG GO_VERSION
ARG TARGETOS
ARG GOFLAGS=""
ARG CGO_ENABLED=0
RUN apk add git
WORKDIR /go/src/handler
COPY . .
# check
RUN test -z "$(gofmt -l .)" \
    || exit 1
WORKDIR /go/src/handler/function
RUN go test ./...
WORKDIR ..
RUN go build -o handler .
FROM alpine AS ship
RUN apk add ca-certificates
`,
			want: []Step{
				{Dir: ".", Command: `test -z "$(gofmt -l .)" || exit 1`, Env: []string{"GO_VERSION=1.26", "TARGETOS=linux", "CGO_ENABLED=0"}},
				{Dir: "function", Command: "go test ./...", Env: []string{"GO_VERSION=1.26", "TARGETOS=linux", "CGO_ENABLED=0"}},
				{Dir: ".", Command: "go build -o handler .", Env: []string{"GO_VERSION=1.26", "TARGETOS=linux", "CGO_ENABLED=0"}},
			},
		},
		{name: "no copy of the context", dockerfile: "FROM golang\nRUN go build .\n", err: true},
		{name: "a step outside the context", dockerfile: "FROM golang\nWORKDIR /src\nCOPY . .\nWORKDIR /tmp\nRUN go build .\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DockerfileSteps([]byte(tt.dockerfile), "linux", "amd64")
			if tt.err {
				if !errors.Is(err, ErrSpec) {
					t.Fatalf("got %+v, %v; want ErrSpec", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

// TestTemplateDockerfilesCheckFormattingAndTestsBeforeBuilding: the steps
// the builder takes from each template's Dockerfile include the gofmt
// check and the handler's tests, before the build.
func TestTemplateDockerfilesCheckFormattingAndTestsBeforeBuilding(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "template", "*", "Dockerfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no template Dockerfiles: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := DockerfileSteps(b, "linux", "amd64")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var order []string
		for _, s := range steps {
			for _, what := range []string{"gofmt -l", "go test", "go build"} {
				if strings.Contains(s.Command, what) {
					order = append(order, what)
				}
			}
		}
		if want := []string{"gofmt -l", "go test", "go build"}; !reflect.DeepEqual(order, want) {
			t.Errorf("%s: steps %v, want %v in that order", f, order, want)
		}
	}
}
