package api

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// ErrFunctionNotFound is wrapped by the errors of the gateway's parts for a
// function they do not know.
var ErrFunctionNotFound = errors.New("function not found")

// DefaultNamespace is the only namespace the local gateway serves.
const DefaultNamespace = "openfaas-fn"

// FunctionResources are memory/cpu limits or requests (recorded, not enforced).
type FunctionResources struct {
	Memory string `json:"memory,omitempty"`
	CPU    string `json:"cpu,omitempty"`
}

// FunctionDeployment is the body of POST/PUT /system/functions.
type FunctionDeployment struct {
	Service                string             `json:"service"`
	Image                  string             `json:"image"`
	Namespace              string             `json:"namespace,omitempty"`
	EnvProcess             string             `json:"envProcess,omitempty"`
	EnvVars                map[string]string  `json:"envVars,omitempty"`
	Constraints            []string           `json:"constraints,omitempty"`
	Secrets                []string           `json:"secrets,omitempty"`
	Labels                 *map[string]string `json:"labels,omitempty"`
	Annotations            *map[string]string `json:"annotations,omitempty"`
	Limits                 *FunctionResources `json:"limits,omitempty"`
	Requests               *FunctionResources `json:"requests,omitempty"`
	ReadOnlyRootFilesystem bool               `json:"readOnlyRootFilesystem,omitempty"`
}

// FunctionUsage is the optional usage block of FunctionStatus.
type FunctionUsage struct {
	CPU              float64 `json:"cpu,omitempty"`
	TotalMemoryBytes float64 `json:"totalMemoryBytes,omitempty"`
}

// FunctionStatus is one entry of GET /system/functions and the body of
// GET /system/function/{name}.
type FunctionStatus struct {
	Name                   string             `json:"name"`
	Image                  string             `json:"image"`
	Namespace              string             `json:"namespace,omitempty"`
	EnvProcess             string             `json:"envProcess,omitempty"`
	EnvVars                map[string]string  `json:"envVars,omitempty"`
	Constraints            []string           `json:"constraints,omitempty"`
	Secrets                []string           `json:"secrets,omitempty"`
	Labels                 *map[string]string `json:"labels,omitempty"`
	Annotations            *map[string]string `json:"annotations,omitempty"`
	Limits                 *FunctionResources `json:"limits,omitempty"`
	Requests               *FunctionResources `json:"requests,omitempty"`
	ReadOnlyRootFilesystem bool               `json:"readOnlyRootFilesystem,omitempty"`
	InvocationCount        float64            `json:"invocationCount,omitempty"`
	Replicas               uint64             `json:"replicas,omitempty"`
	AvailableReplicas      uint64             `json:"availableReplicas,omitempty"`
	CreatedAt              time.Time          `json:"createdAt"`
	Usage                  *FunctionUsage     `json:"usage,omitempty"`
}

// ScaleServiceRequest is the body of POST /system/scale-function/{name}.
type ScaleServiceRequest struct {
	ServiceName string `json:"serviceName"`
	Replicas    uint64 `json:"replicas"`
	Namespace   string `json:"namespace,omitempty"`
}

// DeleteFunctionRequest is the body of DELETE /system/functions.
type DeleteFunctionRequest struct {
	FunctionName string `json:"functionName"`
	Namespace    string `json:"namespace,omitempty"`
}

// Secret is the body of /system/secrets calls. RawValue is used when Value is
// empty.
type Secret struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Value     string `json:"value,omitempty"`
	RawValue  []byte `json:"rawValue,omitempty"`
}

// VersionInfo describes a build.
type VersionInfo struct {
	CommitMessage string `json:"commit_message,omitempty"`
	SHA           string `json:"sha"`
	Release       string `json:"release"`
}

// ProviderInfo is the provider part of /system/info.
type ProviderInfo struct {
	Name          string       `json:"provider"`
	Version       *VersionInfo `json:"version"`
	Orchestration string       `json:"orchestration"`
}

// GatewayInfo is the body of GET /system/info.
type GatewayInfo struct {
	Provider *ProviderInfo `json:"provider"`
	Version  *VersionInfo  `json:"version"`
	Arch     string        `json:"arch"`
}

// LogMessage is one NDJSON line of GET /system/logs.
type LogMessage struct {
	Name      string    `json:"name"`
	Namespace string    `json:"namespace"`
	Instance  string    `json:"instance"`
	Timestamp time.Time `json:"timestamp"`
	Text      string    `json:"text"`
}

// BuildConfig is the com.openfaas.docker.config file of a remote-builder tar.
type BuildConfig struct {
	Image     string            `json:"image"`
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
	Platforms []string          `json:"platforms,omitempty"`
	SkipPush  bool              `json:"skipPush,omitempty"`
}

// BuildResult is one NDJSON line of the remote builder's reply.
type BuildResult struct {
	Log    []string `json:"log"`
	Image  string   `json:"image"`
	Status string   `json:"status"`
	Error  string   `json:"error,omitempty"`
}

// Build statuses.
const (
	BuildInProgress = "in_progress"
	BuildSuccess    = "success"
	BuildFailed     = "failed"
)

// Header names used by the gateway and the queue.
const (
	HeaderCallID           = queuemsg.HeaderCallID
	HeaderCallbackURL      = "X-Callback-Url"
	HeaderStartTime        = queuemsg.HeaderStartTime
	HeaderDuration         = "X-Duration-Seconds"
	HeaderFunctionStatus   = "X-Function-Status"
	HeaderFunctionName     = "X-Function-Name"
	HeaderServedBy         = "X-Served-By"
	HeaderBuildSignature   = "X-Build-Signature"
	HeaderOpenFaaSInternal = "X-OpenFaaS-Internal"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidName reports whether name is a valid function name (RFC 1123 label).
func ValidName(name string) bool {
	return len(name) <= 63 && nameRE.MatchString(name)
}

// SplitName splits "name.namespace" on the last dot. A name without a dot
// gets DefaultNamespace.
func SplitName(s string) (name, namespace string) {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, DefaultNamespace
}
