package flowfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// path is a reference path: "$", then fields (".name") and array indexes
// ("[2]"). It is the subset of JSONPath the Amazon States Language allows
// in Variable, InputPath, OutputPath and ItemsPath, without filters or
// wildcards.
type path struct {
	text string
	segs []segment
}

// segment is one step of a path: a field name, or an index when field is
// "" and index >= 0.
type segment struct {
	field string
	index int
}

// errNoValue reports a path that selects nothing in a document.
var errNoValue = errors.New("selects no value")

// parsePath parses s, or says why it is not a path.
func parsePath(s string) (path, error) {
	if !strings.HasPrefix(s, "$") {
		return path{}, fmt.Errorf("path %q must start with $", s)
	}
	p := path{text: s}
	rest := s[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name := rest[1 : 1+end]
			if name == "" || strings.ContainsAny(name, "]*'\"") {
				return path{}, fmt.Errorf("path %q: bad field name %q", s, name)
			}
			p.segs = append(p.segs, segment{field: name, index: -1})
			rest = rest[1+end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return path{}, fmt.Errorf("path %q: unclosed [", s)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 || rest[1] == '+' {
				return path{}, fmt.Errorf("path %q: index %q is not a non-negative integer (filters and wildcards are not supported)", s, rest[1:end])
			}
			p.segs = append(p.segs, segment{index: n})
			rest = rest[end+1:]
		default:
			return path{}, fmt.Errorf("path %q: expected . or [ at %q", s, rest)
		}
	}
	return p, nil
}

// lookup returns the value p selects in doc (decoded with UseNumber), or
// errNoValue.
func (p path) lookup(doc any) (any, error) {
	v := doc
	for _, s := range p.segs {
		switch t := v.(type) {
		case map[string]any:
			if s.field == "" {
				return nil, errNoValue
			}
			var ok bool
			if v, ok = t[s.field]; !ok {
				return nil, errNoValue
			}
		case []any:
			if s.field != "" || s.index >= len(t) {
				return nil, errNoValue
			}
			v = t[s.index]
		default:
			return nil, errNoValue
		}
	}
	return v, nil
}

// decodeJSON decodes a state's data, keeping numbers exact.
func decodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("the state's input is not JSON: %w", err)
	}
	if d.More() {
		return nil, errors.New("the state's input is not JSON: data after the value")
	}
	return v, nil
}

// apply returns the part of data that p selects, as JSON. "$" returns data
// unchanged (it need not be JSON).
func (p path) apply(data []byte) ([]byte, error) {
	if len(p.segs) == 0 {
		return data, nil
	}
	doc, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	v, err := p.lookup(doc)
	if err != nil {
		return nil, fmt.Errorf("path %s %w", p.text, err)
	}
	return json.Marshal(v)
}

// asJSON returns data as a JSON value: itself when it is JSON, else a JSON
// string holding it (a function that answers plain text).
func asJSON(data []byte) json.RawMessage {
	if json.Valid(data) {
		return data
	}
	b, _ := json.Marshal(string(data))
	return b
}
