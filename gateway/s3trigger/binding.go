package s3trigger

import (
	"errors"
	"fmt"
	"strings"
)

// Annotations of a function that bind it to a bucket.
const (
	// AnnotationBucket is "bucket" or "bucket/prefix", or several of them
	// separated by commas: an object created there starts the function.
	AnnotationBucket = "faasflow.trigger.s3"
	// AnnotationSuffix, optional, keeps only the keys ending so.
	AnnotationSuffix = "faasflow.trigger.s3.suffix"
)

// ErrInvalidBinding is wrapped by ParseBindings' errors.
var ErrInvalidBinding = errors.New("invalid bucket binding")

// Binding starts Flow for every object created in Bucket whose key starts
// with Prefix and ends with Suffix.
type Binding struct {
	Flow, Bucket, Prefix, Suffix string
}

// Matches reports whether an object created at bucket/key starts b's flow.
func (b Binding) Matches(bucket, key string) bool {
	return b.Bucket == bucket && strings.HasPrefix(key, b.Prefix) && strings.HasSuffix(key, b.Suffix)
}

// ParseBindings reads the bindings of function flow from its annotations
// (none when it has no AnnotationBucket).
func ParseBindings(flow string, annotations map[string]string) ([]Binding, error) {
	v, ok := annotations[AnnotationBucket]
	if !ok {
		return nil, nil
	}
	var out []Binding
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		bucket, prefix, _ := strings.Cut(part, "/")
		if bucket == "" || strings.ContainsAny(bucket, " *?") {
			return nil, fmt.Errorf("%w: %s: %s=%q: want bucket or bucket/prefix, comma-separated", ErrInvalidBinding, flow, AnnotationBucket, v)
		}
		out = append(out, Binding{Flow: flow, Bucket: bucket, Prefix: prefix, Suffix: annotations[AnnotationSuffix]})
	}
	return out, nil
}
