package flowfile

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns the yaml.v3 nodes of one file into values, every error
// naming the file, the node's position and the field's path.
type decoder struct{ file string }

func (d *decoder) errAt(n *yaml.Node, field, format string, args ...any) error {
	e := &Error{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// join appends a field name to a field path.
func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

// fields calls each for every key of the mapping n, in file order, and
// refuses a node that is not a mapping, a key that is not a string and a
// key given twice.
func (d *decoder) fields(n *yaml.Node, at string, each func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return d.errAt(n, at, "must be a mapping (key: value), not %s", kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return d.errAt(k, at, "keys must be plain strings")
		}
		if seen[k.Value] {
			return d.errAt(k, join(at, k.Value), "given twice")
		}
		seen[k.Value] = true
		if err := each(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a scalar " + n.Tag
	}
	return "empty"
}

func (d *decoder) str(n *yaml.Node, at string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", d.errAt(n, at, "must be a string, not %s", kindName(n))
	}
	return n.Value, nil
}

func (d *decoder) nonEmpty(n *yaml.Node, at string) (string, error) {
	s, err := d.str(n, at)
	if err == nil && s == "" {
		err = d.errAt(n, at, "must not be empty")
	}
	return s, err
}

func (d *decoder) boolean(n *yaml.Node, at string) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		return false, d.errAt(n, at, "must be true or false, not %s", kindName(n))
	}
	return b, nil
}

func (d *decoder) number(n *yaml.Node, at string) (float64, error) {
	var f float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil ||
		math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, d.errAt(n, at, "must be a number, not %s", kindName(n))
	}
	return f, nil
}

// integer decodes a whole number between lo and hi.
func (d *decoder) integer(n *yaml.Node, at string, lo, hi int) (int, error) {
	f, err := d.number(n, at)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, d.errAt(n, at, "must be a whole number from %d to %d, not %s", lo, hi, n.Value)
	}
	return int(f), nil
}

// seconds decodes a positive whole number of seconds (at most a day).
func (d *decoder) seconds(n *yaml.Node, at string) (time.Duration, error) {
	s, err := d.integer(n, at, 1, 86400)
	return time.Duration(s) * time.Second, err
}

func (d *decoder) list(n *yaml.Node, at string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, d.errAt(n, at, "must be a list, not %s", kindName(n))
	}
	if len(n.Content) == 0 {
		return nil, d.errAt(n, at, "must not be empty")
	}
	return n.Content, nil
}

func (d *decoder) path(n *yaml.Node, at string) (path, error) {
	s, err := d.str(n, at)
	if err != nil {
		return path{}, err
	}
	p, err := parsePath(s)
	if err != nil {
		return path{}, d.errAt(n, at, "%v", err)
	}
	return p, nil
}

// anyJSON converts the YAML value n to JSON (a Pass state's Result).
func (d *decoder) anyJSON(n *yaml.Node, at string) (json.RawMessage, error) {
	if n.Kind == yaml.AliasNode {
		return nil, d.errAt(n, at, "aliases are not supported")
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, d.errAt(n, at, "%v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, d.errAt(n, at, "cannot be written as JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	return b, nil
}
