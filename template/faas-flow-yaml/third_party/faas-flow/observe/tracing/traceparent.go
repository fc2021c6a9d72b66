package tracing

import (
	"errors"

	"go.opentelemetry.io/otel/trace"
)

// rootFromMap reads the request span's context from a Trace map.
func rootFromMap(m map[string]string) (trace.SpanContext, bool) {
	sc, ok := parseTraceparent(m[KeyRoot])
	if !ok {
		return sc, false
	}
	if s := m[KeyRootState]; s != "" {
		if ts, err := trace.ParseTraceState(s); err == nil {
			sc = sc.WithTraceState(ts)
		}
	}
	return sc, true
}

var errTraceparent = errors.New("bad traceparent")

// formatTraceparent writes sc as a W3C traceparent value (version 00).
func formatTraceparent(sc trace.SpanContext) string {
	const hexdigits = "0123456789abcdef"
	var b [55]byte
	b[0], b[1], b[2] = '0', '0', '-'
	tid, sid := sc.TraceID(), sc.SpanID()
	for i, x := range tid {
		b[3+2*i], b[4+2*i] = hexdigits[x>>4], hexdigits[x&0xf]
	}
	b[35] = '-'
	for i, x := range sid {
		b[36+2*i], b[37+2*i] = hexdigits[x>>4], hexdigits[x&0xf]
	}
	b[52] = '-'
	f := byte(sc.TraceFlags())
	b[53], b[54] = hexdigits[f>>4], hexdigits[f&0xf]
	return string(b[:])
}

// parseTraceparent reads a W3C traceparent value. It accepts version 00
// exactly and later versions by their first four fields, rejects version ff,
// all-zero ids and upper-case hex, and returns a remote span context.
func parseTraceparent(s string) (trace.SpanContext, bool) {
	sc, err := parseTraceparentErr(s)
	return sc, err == nil
}

func parseTraceparentErr(s string) (trace.SpanContext, error) {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return trace.SpanContext{}, errTraceparent
	}
	ver, ok := hexByte(s[0], s[1])
	if !ok || ver == 0xff || (ver == 0 && len(s) != 55) || (ver != 0 && len(s) > 55 && s[55] != '-') {
		return trace.SpanContext{}, errTraceparent
	}
	var tid trace.TraceID
	for i := range tid {
		if tid[i], ok = hexByte(s[3+2*i], s[4+2*i]); !ok {
			return trace.SpanContext{}, errTraceparent
		}
	}
	var sid trace.SpanID
	for i := range sid {
		if sid[i], ok = hexByte(s[36+2*i], s[37+2*i]); !ok {
			return trace.SpanContext{}, errTraceparent
		}
	}
	flags, ok := hexByte(s[53], s[54])
	if !ok || !tid.IsValid() || !sid.IsValid() {
		return trace.SpanContext{}, errTraceparent
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags) & trace.FlagsSampled, Remote: true,
	}), nil
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := hexNibble(hi)
	l, ok2 := hexNibble(lo)
	return h<<4 | l, ok1 && ok2
}

// hexDigitValue is the value of a lower-case hex digit (0 for others).
func hexDigitValue(c byte) byte {
	v, _ := hexNibble(c)
	return v
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
