package flowfile

import (
	"encoding/json"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// rule is a Choice rule: a comparison of the value at variable, or And,
// Or, Not of other rules.
type rule struct {
	op       string
	variable path
	str      string
	num      float64
	boolean  bool
	subs     []*rule
}

// comparisonKind returns the kind of operand a supported comparison takes
// ("string", "number", "bool"), or "" for an unknown one.
func comparisonKind(op string) string {
	switch op {
	case "StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals", "StringGreaterThanEquals":
		return "string"
	case "NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals", "NumericGreaterThanEquals":
		return "number"
	case "BooleanEquals", "IsPresent", "IsNull", "IsString", "IsNumeric", "IsBoolean":
		return "bool"
	}
	return ""
}

// choices decodes the Choices of a Choice state.
func (d *decoder) choices(n *yaml.Node, at string) ([]*choice, error) {
	items, err := d.list(n, at)
	if err != nil {
		return nil, err
	}
	out := make([]*choice, 0, len(items))
	for i, it := range items {
		c := &choice{at: fmt.Sprintf("%s[%d]", at, i)}
		r, err := d.rule(it, c.at, func(k, v *yaml.Node) error {
			c.next, c.nextN = v.Value, v
			_, err := d.nonEmpty(v, join(c.at, "Next"))
			return err
		})
		if err != nil {
			return nil, err
		}
		if c.nextN == nil {
			return nil, d.errAt(it, join(c.at, "Next"), "missing: a choice rule names the state it leads to")
		}
		c.rule = r
		out = append(out, c)
	}
	return out, nil
}

// rule decodes a choice rule. next handles the Next field, which only a
// top-level rule has (next is nil for nested ones).
func (d *decoder) rule(n *yaml.Node, at string, next func(k, v *yaml.Node) error) (*rule, error) {
	r := &rule{}
	var varN *yaml.Node
	err := d.fields(n, at, func(key string, k, v *yaml.Node) error {
		f := join(at, key)
		switch {
		case key == "Next" && next != nil:
			return next(k, v)
		case key == "Comment":
			_, err := d.str(v, f)
			return err
		case key == "Variable":
			p, err := d.path(v, f)
			r.variable, varN = p, v
			return err
		}
		if r.op != "" {
			return d.errAt(k, f, "a rule has one comparison (or And, Or, Not); %s is already given", r.op)
		}
		r.op = key
		return d.operand(r, key, k, v, f)
	})
	if err != nil {
		return nil, err
	}
	switch {
	case r.op == "":
		return nil, d.errAt(n, at, "a rule needs a comparison (StringEquals, NumericEquals…) or And, Or, Not")
	case len(r.subs) > 0 && varN != nil:
		return nil, d.errAt(varN, join(at, "Variable"), "And, Or and Not take no Variable")
	case len(r.subs) == 0 && varN == nil:
		return nil, d.errAt(n, join(at, "Variable"), "missing: the comparison %s needs a Variable", r.op)
	}
	return r, nil
}

// operand decodes the operand of rule r's operator op.
func (d *decoder) operand(r *rule, op string, k, v *yaml.Node, at string) error {
	switch op {
	case "And", "Or":
		items, err := d.list(v, at)
		if err != nil {
			return err
		}
		for i, it := range items {
			sub, err := d.rule(it, fmt.Sprintf("%s[%d]", at, i), nil)
			if err != nil {
				return err
			}
			r.subs = append(r.subs, sub)
		}
		return nil
	case "Not":
		sub, err := d.rule(v, at, nil)
		r.subs = []*rule{sub}
		return err
	}
	var err error
	switch comparisonKind(op) {
	case "string":
		r.str, err = d.str(v, at)
	case "number":
		r.num, err = d.number(v, at)
	case "bool":
		r.boolean, err = d.boolean(v, at)
	default:
		return d.errAt(k, at, "unknown field: not a supported comparison (String*, Numeric*, BooleanEquals, IsPresent, IsNull, IsString, IsNumeric, IsBoolean, And, Or, Not)")
	}
	return err
}

// errMissingVariable is the runtime error of a comparison whose Variable
// selects nothing.
var errMissingVariable = errors.New("the Variable selects no value")

// eval evaluates r against the decoded input doc.
func (r *rule) eval(doc any) (bool, error) {
	switch r.op {
	case "And", "Or":
		for _, s := range r.subs {
			ok, err := s.eval(doc)
			if err != nil || ok == (r.op == "Or") {
				return ok, err
			}
		}
		return r.op == "And", nil
	case "Not":
		ok, err := r.subs[0].eval(doc)
		return !ok, err
	}
	v, err := r.variable.lookup(doc)
	if r.op == "IsPresent" {
		return (err == nil) == r.boolean, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %s %w", r.op, r.variable.text, errMissingVariable)
	}
	return r.compare(v), nil
}

// compare applies a comparison to the value v; a value of another type
// does not match.
func (r *rule) compare(v any) bool {
	switch r.op {
	case "IsNull":
		return (v == nil) == r.boolean
	case "IsString", "IsNumeric", "IsBoolean":
		var is bool
		switch v.(type) {
		case string:
			is = r.op == "IsString"
		case json.Number:
			is = r.op == "IsNumeric"
		case bool:
			is = r.op == "IsBoolean"
		}
		return is == r.boolean
	case "BooleanEquals":
		b, ok := v.(bool)
		return ok && b == r.boolean
	}
	switch comparisonKind(r.op) {
	case "string":
		s, ok := v.(string)
		return ok && ordered(r.op, compareStrings(s, r.str))
	case "number":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && ordered(r.op, compareNumbers(f, r.num))
	}
	return false
}

func compareNumbers(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ordered tells whether the comparison op holds for a result c of
// comparing the value with the operand.
func ordered(op string, c int) bool {
	switch op {
	case "StringEquals", "NumericEquals":
		return c == 0
	case "StringLessThan", "NumericLessThan":
		return c < 0
	case "StringGreaterThan", "NumericGreaterThan":
		return c > 0
	case "StringLessThanEquals", "NumericLessThanEquals":
		return c <= 0
	case "StringGreaterThanEquals", "NumericGreaterThanEquals":
		return c >= 0
	}
	return false
}
