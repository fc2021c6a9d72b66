package flowfile

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/faas-flow/faas-flow/sdk"
	"gopkg.in/yaml.v3"
)

// payload is a Parameters or ResultSelector template: a JSON value whose
// fields named "<name>.$" take the value a path selects in the data.
type payload struct {
	literal any          // a value without paths
	fields  []payloadKey // an object holding paths, in file order
	items   []*payload   // a list holding paths
	isObj   bool
	isList  bool
}

// payloadKey is one field of an object template.
type payloadKey struct {
	name string
	path *path    // "<name>.$": the value the path selects
	val  *payload // otherwise
}

// payload decodes a template at field path at.
func (d *decoder) payload(n *yaml.Node, at string) (*payload, error) {
	switch n.Kind {
	case yaml.MappingNode:
		p := &payload{isObj: true}
		err := d.fields(n, at, func(key string, k, v *yaml.Node) error {
			f := join(at, key)
			if name, ok := strings.CutSuffix(key, ".$"); ok {
				s, err := d.str(v, f)
				if err != nil {
					return err
				}
				if strings.HasPrefix(s, "$$") {
					return d.errAt(v, f, "the context object ($$) is not supported")
				}
				pp, err := d.path(v, f)
				p.fields = append(p.fields, payloadKey{name: name, path: &pp})
				return err
			}
			sub, err := d.payload(v, f)
			p.fields = append(p.fields, payloadKey{name: key, val: sub})
			return err
		})
		return p, err
	case yaml.SequenceNode:
		p := &payload{isList: true}
		for i, it := range n.Content {
			sub, err := d.payload(it, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			p.items = append(p.items, sub)
		}
		return p, nil
	}
	raw, err := d.anyJSON(n, at)
	if err != nil {
		return nil, err
	}
	var v any
	err = json.Unmarshal(raw, &v)
	return &payload{literal: v}, err
}

// build returns the value of the template for the decoded data doc.
func (p *payload) build(doc any) (any, error) {
	switch {
	case p.isObj:
		out := make(map[string]any, len(p.fields))
		for _, f := range p.fields {
			var err error
			if f.path != nil {
				if out[f.name], err = f.path.lookup(doc); err != nil {
					return nil, fmt.Errorf("%s.$: path %s %w", f.name, f.path.text, err)
				}
				continue
			}
			if out[f.name], err = f.val.build(doc); err != nil {
				return nil, err
			}
		}
		return out, nil
	case p.isList:
		out := make([]any, len(p.items))
		for i, it := range p.items {
			var err error
			if out[i], err = it.build(doc); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return p.literal, nil
}

// apply builds the template for data, which must be JSON unless the
// template holds no path.
func (p *payload) apply(data []byte) ([]byte, error) {
	var doc any
	if len(data) > 0 && json.Valid(data) {
		var err error
		if doc, err = decodeJSON(data); err != nil {
			return nil, err
		}
	}
	v, err := p.build(doc)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// resultPath decodes a ResultPath: null (keep the input, drop the result),
// "$" (the result replaces the input) or a path of fields.
func (d *decoder) resultPath(n *yaml.Node, at string) (*path, bool, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, true, nil
	}
	p, err := d.path(n, at)
	if err != nil {
		return nil, false, err
	}
	for _, s := range p.segs {
		if s.field == "" {
			return nil, false, d.errAt(n, at, "a ResultPath names fields only, no index")
		}
	}
	return &p, false, nil
}

// placeResult returns input with result placed at p (ResultPath), creating
// the objects on the way.
func placeResult(p *path, input, result []byte) ([]byte, error) {
	if len(p.segs) == 0 {
		return result, nil
	}
	doc, err := decodeJSON(input)
	if err != nil {
		return nil, err
	}
	var res any
	if res, err = decodeJSON(asJSON(result)); err != nil {
		return nil, err
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("ResultPath %s: the input is not a JSON object", p.text)
	}
	obj := root
	for i, s := range p.segs {
		if i == len(p.segs)-1 {
			obj[s.field] = res
			break
		}
		next, ok := obj[s.field].(map[string]any)
		if !ok {
			if _, exists := obj[s.field]; exists {
				return nil, fmt.Errorf("ResultPath %s: %s is not an object", p.text, s.field)
			}
			next = map[string]any{}
			obj[s.field] = next
		}
		obj = next
	}
	return json.Marshal(root)
}

// stashKey is the Context key under which a Task with a ResultPath keeps
// its raw input while its function runs: one per node instance.
func stashKey(ctx *sdk.Context) string { return "flowfile.input." + ctx.GetNode() }
