package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Trace is one trace as Jaeger's query API returns it.
type Trace struct {
	// TraceID is the 32-hex-digit W3C trace id.
	TraceID string
	// Spans are ordered by start time, then span id.
	Spans []Span
}

// Span is one span decoded from Jaeger's query API.
type Span struct {
	// TraceID and SpanID are lower-case hex (32 and 16 digits).
	TraceID, SpanID string
	// ParentSpanID is the span id of the CHILD_OF reference within the same
	// trace; empty for a root span.
	ParentSpanID string
	// References are all references as Jaeger reports them (CHILD_OF for
	// the parent, FOLLOWS_FROM for OpenTelemetry links).
	References []SpanReference
	// OperationName is the OpenTelemetry span name.
	OperationName string
	// ServiceName is the service.name of the span's resource (Jaeger's
	// process).
	ServiceName string
	StartTime   time.Time
	Duration    time.Duration
	// Tags hold the span attributes plus what Jaeger derives from the span:
	// "span.kind", "otel.status_code" ("OK"/"ERROR"),
	// "otel.status_description" and "error" (true) for error spans, and the
	// instrumentation scope as "otel.scope.name". Values are string, bool,
	// int64, float64 or []byte.
	Tags map[string]any
	// ProcessTags are the resource attributes other than service.name.
	ProcessTags map[string]any
	// Logs are the span events.
	Logs []SpanLog
}

// SpanReference links a span to another span.
type SpanReference struct {
	// RefType is "CHILD_OF" or "FOLLOWS_FROM".
	RefType         string
	TraceID, SpanID string
}

// SpanLog is one span event.
type SpanLog struct {
	Timestamp time.Time
	// Fields hold the event attributes; "event" holds the event name.
	Fields map[string]any
}

// Tag returns the value of the tag key and whether the span has it.
func (s Span) Tag(key string) (any, bool) {
	v, ok := s.Tags[key]
	return v, ok
}

// TagString returns the tag key formatted with %v, or "" if absent.
func (s Span) TagString(key string) string {
	v, ok := s.Tags[key]
	if !ok {
		return ""
	}
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// IsError reports whether the span is marked as failed: OpenTelemetry status
// ERROR (Jaeger's "otel.status_code") or the "error" tag set to true.
func (s Span) IsError() bool {
	if s.TagString("otel.status_code") == "ERROR" {
		return true
	}
	v, _ := s.Tags["error"].(bool)
	return v
}

// Roots returns the spans of the trace that have no parent within it.
func (t Trace) Roots() []Span {
	ids := make(map[string]bool, len(t.Spans))
	for _, s := range t.Spans {
		ids[s.SpanID] = true
	}
	var roots []Span
	for _, s := range t.Spans {
		if s.ParentSpanID == "" || !ids[s.ParentSpanID] {
			roots = append(roots, s)
		}
	}
	return roots
}

// Children returns the spans whose parent is spanID.
func (t Trace) Children(spanID string) []Span {
	var out []Span
	for _, s := range t.Spans {
		if s.ParentSpanID == spanID {
			out = append(out, s)
		}
	}
	return out
}

// SpansNamed returns the spans whose operation name is name.
func (t Trace) SpansNamed(name string) []Span {
	var out []Span
	for _, s := range t.Spans {
		if s.OperationName == name {
			out = append(out, s)
		}
	}
	return out
}

// Services returns the service names Jaeger has seen spans from.
func (j *JaegerServer) Services(ctx context.Context) ([]string, error) {
	var resp struct {
		Data   []string         `json:"data"`
		Errors []jaegerAPIError `json:"errors"`
	}
	if _, err := j.get(ctx, "/api/services", &resp); err != nil {
		return nil, err
	}
	sort.Strings(resp.Data)
	return resp.Data, nil
}

// Traces returns the traces (up to 1000, newest first as Jaeger orders them)
// that contain a span of service.
func (j *JaegerServer) Traces(ctx context.Context, service string) ([]Trace, error) {
	now := time.Now()
	q := url.Values{
		"service": {service},
		"limit":   {"1000"},
		// start/end are microseconds since the epoch; the default window
		// is the last two days.
		"start": {strconv.FormatInt(now.Add(-7*24*time.Hour).UnixMicro(), 10)},
		"end":   {strconv.FormatInt(now.Add(time.Hour).UnixMicro(), 10)},
	}
	var resp jaegerTracesResponse
	if _, err := j.get(ctx, "/api/traces?"+q.Encode(), &resp); err != nil {
		return nil, err
	}
	if len(resp.Errors) > 0 {
		return nil, fmt.Errorf("testenv: jaeger search for service %q: %s", service, resp.Errors[0].Msg)
	}
	out := make([]Trace, 0, len(resp.Data))
	for _, raw := range resp.Data {
		tr, err := raw.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, tr)
	}
	return out, nil
}

// Trace returns the trace with traceID (hex). It returns an error wrapping
// ErrTraceNotFound if Jaeger holds no such trace.
func (j *JaegerServer) Trace(ctx context.Context, traceID string) (Trace, error) {
	var resp jaegerTracesResponse
	status, err := j.get(ctx, "/api/traces/"+url.PathEscape(traceID), &resp)
	if status == http.StatusNotFound {
		return Trace{}, fmt.Errorf("%w: %s", ErrTraceNotFound, traceID)
	}
	if err != nil {
		return Trace{}, err
	}
	if len(resp.Data) == 0 {
		return Trace{}, fmt.Errorf("%w: %s", ErrTraceNotFound, traceID)
	}
	return resp.Data[0].decode()
}

// AwaitTrace polls Trace until the trace has at least minSpans spans or ctx
// ends. Spans of one trace may arrive in several exports (one per process
// or hop), so a test that knows how many spans to expect waits with this.
func (j *JaegerServer) AwaitTrace(ctx context.Context, traceID string, minSpans int) (Trace, error) {
	for {
		tr, err := j.Trace(ctx, traceID)
		if err == nil && len(tr.Spans) >= minSpans {
			return tr, nil
		}
		if err != nil && !errors.Is(err, ErrTraceNotFound) {
			return tr, err
		}
		select {
		case <-ctx.Done():
			return tr, fmt.Errorf("testenv: trace %s has %d spans, want at least %d: %w",
				traceID, len(tr.Spans), minSpans, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// get fetches path from the query API and decodes the JSON body into out. It
// returns the HTTP status; an error for any status other than 200.
func (j *JaegerServer) get(ctx context.Context, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+path, nil)
	if err != nil {
		return 0, fmt.Errorf("testenv: jaeger request: %w", err)
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("testenv: jaeger GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("testenv: jaeger GET %s: read body: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("testenv: jaeger GET %s: status %d: %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	if err := decodeJaegerJSON(body, out); err != nil {
		return resp.StatusCode, fmt.Errorf("testenv: jaeger GET %s: decode: %w", path, err)
	}
	return resp.StatusCode, nil
}

// decodeJaegerJSON decodes a query API body, keeping numbers as json.Number
// so int64 tags and microsecond timestamps keep their precision.
func decodeJaegerJSON(body []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(out)
}

type jaegerAPIError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

type jaegerTracesResponse struct {
	Data   []jaegerTrace    `json:"data"`
	Errors []jaegerAPIError `json:"errors"`
}

type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerSpan struct {
	TraceID       string            `json:"traceID"`
	SpanID        string            `json:"spanID"`
	ParentSpanID  string            `json:"parentSpanID"`
	OperationName string            `json:"operationName"`
	References    []jaegerReference `json:"references"`
	StartTime     json.Number       `json:"startTime"` // microseconds since the Unix epoch
	Duration      json.Number       `json:"duration"`  // microseconds
	Tags          []jaegerKeyValue  `json:"tags"`
	Logs          []jaegerLog       `json:"logs"`
	ProcessID     string            `json:"processID"`
	Process       *jaegerProcess    `json:"process"`
}

type jaegerReference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerProcess struct {
	ServiceName string           `json:"serviceName"`
	Tags        []jaegerKeyValue `json:"tags"`
}

type jaegerLog struct {
	Timestamp json.Number      `json:"timestamp"`
	Fields    []jaegerKeyValue `json:"fields"`
}

type jaegerKeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// jaegerHexID normalises a Jaeger id (which drops leading zero words) to
// width lower-case hex digits.
func jaegerHexID(id string, width int) string {
	id = strings.ToLower(id)
	if len(id) < width {
		id = strings.Repeat("0", width-len(id)) + id
	}
	return id
}

func jaegerMicros(n json.Number) (int64, error) {
	if n == "" {
		return 0, nil
	}
	return n.Int64()
}

func (kv jaegerKeyValue) decode() (any, error) {
	switch kv.Type {
	case "bool":
		b, ok := kv.Value.(bool)
		if !ok {
			return nil, fmt.Errorf("tag %q: bool value is %T", kv.Key, kv.Value)
		}
		return b, nil
	case "int64":
		// Jaeger sends integers beyond JavaScript's safe range as strings.
		switch v := kv.Value.(type) {
		case json.Number:
			return v.Int64()
		case string:
			return strconv.ParseInt(v, 10, 64)
		default:
			return nil, fmt.Errorf("tag %q: int64 value is %T", kv.Key, kv.Value)
		}
	case "float64":
		n, ok := kv.Value.(json.Number)
		if !ok {
			return nil, fmt.Errorf("tag %q: float64 value is %T", kv.Key, kv.Value)
		}
		return n.Float64()
	case "binary":
		// Go's encoding/json marshals []byte as base64 text; decode it back.
		s, ok := kv.Value.(string)
		if !ok {
			return nil, fmt.Errorf("tag %q: binary value is %T", kv.Key, kv.Value)
		}
		var b []byte
		if err := json.Unmarshal([]byte(`"`+s+`"`), &b); err != nil {
			return nil, fmt.Errorf("tag %q: binary value: %w", kv.Key, err)
		}
		return b, nil
	default: // "string" or absent
		if n, ok := kv.Value.(json.Number); ok {
			return n.String(), nil
		}
		return kv.Value, nil
	}
}

func jaegerTags(kvs []jaegerKeyValue) (map[string]any, error) {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v, err := kv.decode()
		if err != nil {
			return nil, fmt.Errorf("testenv: jaeger: %w", err)
		}
		m[kv.Key] = v
	}
	return m, nil
}

func (raw jaegerTrace) decode() (Trace, error) {
	tr := Trace{TraceID: jaegerHexID(raw.TraceID, 32)}
	for _, rs := range raw.Spans {
		proc := rs.Process
		if proc == nil {
			if p, ok := raw.Processes[rs.ProcessID]; ok {
				proc = &p
			}
		}
		start, err := jaegerMicros(rs.StartTime)
		if err != nil {
			return Trace{}, fmt.Errorf("testenv: jaeger span %s: startTime: %w", rs.SpanID, err)
		}
		dur, err := jaegerMicros(rs.Duration)
		if err != nil {
			return Trace{}, fmt.Errorf("testenv: jaeger span %s: duration: %w", rs.SpanID, err)
		}
		tags, err := jaegerTags(rs.Tags)
		if err != nil {
			return Trace{}, err
		}
		s := Span{
			TraceID:       jaegerHexID(rs.TraceID, 32),
			SpanID:        jaegerHexID(rs.SpanID, 16),
			OperationName: rs.OperationName,
			StartTime:     time.UnixMicro(start).UTC(),
			Duration:      time.Duration(dur) * time.Microsecond,
			Tags:          tags,
		}
		if proc != nil {
			s.ServiceName = proc.ServiceName
			if s.ProcessTags, err = jaegerTags(proc.Tags); err != nil {
				return Trace{}, err
			}
		}
		for _, r := range rs.References {
			ref := SpanReference{RefType: r.RefType, TraceID: jaegerHexID(r.TraceID, 32), SpanID: jaegerHexID(r.SpanID, 16)}
			s.References = append(s.References, ref)
			if ref.RefType == "CHILD_OF" && ref.TraceID == s.TraceID && s.ParentSpanID == "" {
				s.ParentSpanID = ref.SpanID
			}
		}
		if s.ParentSpanID == "" && rs.ParentSpanID != "" && rs.ParentSpanID != "0" {
			s.ParentSpanID = jaegerHexID(rs.ParentSpanID, 16)
		}
		for _, l := range rs.Logs {
			ts, err := jaegerMicros(l.Timestamp)
			if err != nil {
				return Trace{}, fmt.Errorf("testenv: jaeger span %s: log timestamp: %w", rs.SpanID, err)
			}
			fields, err := jaegerTags(l.Fields)
			if err != nil {
				return Trace{}, err
			}
			s.Logs = append(s.Logs, SpanLog{Timestamp: time.UnixMicro(ts).UTC(), Fields: fields})
		}
		tr.Spans = append(tr.Spans, s)
	}
	sort.SliceStable(tr.Spans, func(a, b int) bool {
		if !tr.Spans[a].StartTime.Equal(tr.Spans[b].StartTime) {
			return tr.Spans[a].StartTime.Before(tr.Spans[b].StartTime)
		}
		return tr.Spans[a].SpanID < tr.Spans[b].SpanID
	})
	return tr, nil
}
