package queuemsg

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Names of the JetStream stream and its subjects, and of the NATS header
// that names the target function.
const (
	StreamName     = "faas-request"
	SubjectPrefix  = "faas-request."
	HeaderFunction = "Faasflow-Function"
)

// Headers OpenFaaS sets on every call it queues or proxies.
const (
	HeaderCallID    = "X-Call-Id"
	HeaderStartTime = "X-Start-Time"
)

// MaxBodyBytes is the largest body a queued call may carry: JetStream's
// default maximum payload is 1 MiB, and the message also holds the headers
// and the body in base64.
const MaxBodyBytes = 700 << 10

// ErrTooLarge is returned for a body larger than MaxBodyBytes.
var ErrTooLarge = errors.New("request body too large for the queue")

// ErrMalformed is wrapped by Decode errors.
var ErrMalformed = errors.New("malformed queued request")

// Request is an asynchronous call as stored in the queue, with the JSON
// shape of OpenFaaS CE's queue request.
type Request struct {
	Header      http.Header       `json:",omitempty"`
	Host        string            `json:",omitempty"`
	Body        []byte            `json:",omitempty"`
	Method      string            `json:"Method"`
	Path        string            `json:",omitempty"`
	QueryString string            `json:",omitempty"`
	Function    string            `json:"Function"`
	QueueName   string            `json:",omitempty"`
	Annotations map[string]string `json:",omitempty"`
	Labels      map[string]string `json:",omitempty"`
	Environment map[string]string `json:",omitempty"`
	CallbackURL *url.URL          `json:"CallbackUrl,omitempty"`
}

var subjectUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Namespace is the one OpenFaaS namespace a function may be named in:
// "hello" and "hello.openfaas-fn" are the same function.
const Namespace = "openfaas-fn"

// Subject is the subject a call to function fn is published on: its name
// without the ".openfaas-fn" namespace, so that both spellings of one
// function share its subject (its place in the queue and its bound), with
// characters outside [A-Za-z0-9_-] replaced by "_".
func Subject(fn string) string {
	return SubjectPrefix + subjectUnsafe.ReplaceAllString(strings.TrimSuffix(fn, "."+Namespace), "_")
}

// Encode returns the message body of req, refusing a body over
// MaxBodyBytes with ErrTooLarge.
func Encode(req Request) ([]byte, error) {
	if len(req.Body) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: %d bytes, maximum %d", ErrTooLarge, len(req.Body), MaxBodyBytes)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode queued request: %w", err)
	}
	return b, nil
}

// Decode parses a queued message body. A callback URL given as a plain
// string is accepted as well as the encoded url.URL; a missing method means
// POST. The error wraps ErrMalformed.
func Decode(data []byte) (Request, error) {
	var req Request
	if err := json.Unmarshal(data, &req); err != nil {
		var loose struct {
			Request
			CallbackURL string `json:"CallbackUrl"`
		}
		if err2 := json.Unmarshal(data, &loose); err2 != nil {
			return Request{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		req = loose.Request
		if loose.CallbackURL != "" {
			u, err := parseCallback(loose.CallbackURL)
			if err != nil {
				return Request{}, fmt.Errorf("%w: callback: %w", ErrMalformed, err)
			}
			req.CallbackURL = u
		}
	}
	if req.Function == "" {
		return Request{}, fmt.Errorf("%w: no Function", ErrMalformed)
	}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	return req, nil
}

func parseCallback(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("callback url %q: scheme must be http or https", s)
	}
	return u, nil
}
