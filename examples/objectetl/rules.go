package function

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// ErrInvalidRules is wrapped by the errors of rules that cannot be applied:
// JSON that does not decode, an unknown conversion or filter operator.
var ErrInvalidRules = errors.New("invalid transformation rules")

// Rules are the transformation rules, kept as JSON in the state store under
// RulesKey so that they can be changed without deploying the flow again.
// Every rule names fields as the input file names them. A record goes
// through them in this order: Required, Convert, Filter, Rename, Drop.
type Rules struct {
	// Required fields must be present and not empty, else the record is
	// rejected.
	Required []string `json:"required,omitempty"`
	// Convert gives a field a JSON type: "string" (the default), "int",
	// "number" or "bool". A value that does not convert rejects the record.
	Convert map[string]string `json:"convert,omitempty"`
	// Filter keeps only the records that pass every condition; the others
	// are counted as filtered, not rejected.
	Filter []Condition `json:"filter,omitempty"`
	// Rename maps input field names to output names.
	Rename map[string]string `json:"rename,omitempty"`
	// Drop lists fields left out of the output.
	Drop []string `json:"drop,omitempty"`
}

// Condition is one filter rule: Field Op Value. Op is eq, ne (string
// comparison), gt, ge, lt or le (numeric comparison: a value that is not a
// number fails the condition). A missing field compares as "".
type Condition struct {
	Field string `json:"field"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

var conversions = []string{"string", "int", "number", "bool"}
var operators = []string{"eq", "ne", "gt", "ge", "lt", "le"}

// RulesKey is the state store key of a flow's rules (under the store's own
// prefix, etcd_key_prefix: faasflow/etl/<flow>/rules in etcd by default).
func RulesKey(flow string) string { return "etl/" + flow + "/rules" }

// ParseRules decodes and checks rules. Unknown JSON fields are errors, so
// that a misspelt rule is not silently ignored. Empty input means no rules.
func ParseRules(b []byte) (Rules, error) {
	var r Rules
	if len(bytes.TrimSpace(b)) == 0 {
		return r, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Rules{}, fmt.Errorf("%w: %w", ErrInvalidRules, err)
	}
	if dec.More() {
		return Rules{}, fmt.Errorf("%w: data after the rules object", ErrInvalidRules)
	}
	for field, to := range r.Convert {
		if !slices.Contains(conversions, to) {
			return Rules{}, fmt.Errorf("%w: convert %q to %q: want one of %v", ErrInvalidRules, field, to, conversions)
		}
	}
	for i, c := range r.Filter {
		if c.Field == "" || !slices.Contains(operators, c.Op) {
			return Rules{}, fmt.Errorf("%w: filter %d: want a field and an op among %v, got %+v", ErrInvalidRules, i, operators, c)
		}
	}
	for from, to := range r.Rename {
		if from == "" || to == "" {
			return Rules{}, fmt.Errorf("%w: rename %q to %q: names must not be empty", ErrInvalidRules, from, to)
		}
	}
	return r, nil
}

// LoadRules reads the rules of flow from st: no rules when the key is
// missing.
func LoadRules(ctx context.Context, st faasflow.StateStore, flow string) (Rules, error) {
	b, _, err := st.Get(ctx, RulesKey(flow))
	if errors.Is(err, faasflow.ErrNotFound) {
		return Rules{}, nil
	}
	if err != nil {
		return Rules{}, fmt.Errorf("read rules %s: %w", RulesKey(flow), err)
	}
	return ParseRules(b)
}

// SaveRules checks rules and stores them as the rules of flow in st,
// replacing what is there. The next request of the flow uses them.
func SaveRules(ctx context.Context, st faasflow.StateStore, flow string, rules []byte) error {
	if _, err := ParseRules(rules); err != nil {
		return err
	}
	for {
		_, version, err := st.Get(ctx, RulesKey(flow))
		var ok bool
		switch {
		case errors.Is(err, faasflow.ErrNotFound):
			_, ok, err = st.Create(ctx, RulesKey(flow), rules, 0)
		case err == nil:
			_, ok, err = st.CompareAndSwap(ctx, RulesKey(flow), version, rules, 0)
		}
		if err != nil {
			return fmt.Errorf("save rules %s: %w", RulesKey(flow), err)
		}
		if ok {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("save rules %s: %w", RulesKey(flow), ctx.Err())
		}
	}
}

// field is one named value of a record, in the order of the input.
type field struct {
	Name  string `json:"n"`
	Value string `json:"v"`
}

// record is one input record: its number (1 for the first), the line it
// starts on, and its fields.
type record struct {
	N      int     `json:"n"`
	Line   int     `json:"l"`
	Fields []field `json:"f"`
}

func (r record) get(name string) (string, bool) {
	for _, f := range r.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// apply runs rec through the rules. It returns the output JSON object
// (nil when the record is filtered out) or a fault naming why the record
// is rejected.
func (r Rules) apply(rec record) (json.RawMessage, *Fault) {
	reject := func(fieldName, reason string) (json.RawMessage, *Fault) {
		return nil, &Fault{Record: rec.N, Line: rec.Line, Field: fieldName, Reason: reason}
	}
	for _, name := range r.Required {
		if v, ok := rec.get(name); !ok || strings.TrimSpace(v) == "" {
			return reject(name, "required field is missing or empty")
		}
	}
	values := make([]any, len(rec.Fields))
	for i, f := range rec.Fields {
		v, err := convert(f.Value, r.Convert[f.Name])
		if err != nil {
			return reject(f.Name, err.Error())
		}
		values[i] = v
	}
	for _, c := range r.Filter {
		v, _ := rec.get(c.Field)
		if !c.holds(v) {
			return nil, nil
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for i, f := range rec.Fields {
		if slices.Contains(r.Drop, f.Name) {
			continue
		}
		name := f.Name
		if to, ok := r.Rename[name]; ok {
			name = to
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		k, _ := json.Marshal(name)
		v, err := json.Marshal(values[i])
		if err != nil {
			return reject(f.Name, err.Error())
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func convert(v, to string) (any, error) {
	s := strings.TrimSpace(v)
	switch to {
	case "int":
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", v)
		}
		return i, nil
	case "number":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%q is not a number", v)
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(strings.ToLower(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", v)
		}
		return b, nil
	}
	return v, nil
}

func (c Condition) holds(v string) bool {
	switch c.Op {
	case "eq":
		return v == c.Value
	case "ne":
		return v != c.Value
	}
	a, err1 := strconv.ParseFloat(strings.TrimSpace(v), 64)
	b, err2 := strconv.ParseFloat(strings.TrimSpace(c.Value), 64)
	if err1 != nil || err2 != nil {
		return false
	}
	switch c.Op {
	case "gt":
		return a > b
	case "ge":
		return a >= b
	case "lt":
		return a < b
	case "le":
		return a <= b
	}
	return false
}
