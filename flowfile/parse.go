package flowfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxFileBytes bounds the size of a flow file.
const MaxFileBytes = 1 << 20

// Definition is a parsed and validated flow file. Its Define method is a
// sdk.DefineFunc.
type Definition struct {
	// Comment is the file's top-level Comment.
	Comment string
	root    *machine
}

// Load reads and parses the flow file at path (YAML, or JSON, which is
// YAML too). Errors name the file by path.
func Load(path string) (*Definition, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flowfile: %w", err)
	}
	return Parse(path, b)
}

// fileNames are the names LoadFS looks for, in order.
var fileNames = [...]string{"flow.yaml", "flow.yml", "flow.json"}

// ErrNoFlowFile is returned (wrapped) by LoadFS when the folder holds none
// of flow.yaml, flow.yml and flow.json, or more than one.
var ErrNoFlowFile = errors.New("flowfile: no single flow file")

// LoadFS parses the one flow file at the root of fsys: flow.yaml, flow.yml
// or flow.json (a handler folder of the faas-flow-yaml template).
func LoadFS(fsys fs.FS) (*Definition, error) {
	var found []string
	for _, name := range fileNames {
		if _, err := fs.Stat(fsys, name); err == nil {
			found = append(found, name)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%w: want one of %v, found %v", ErrNoFlowFile, fileNames, found)
	}
	b, err := fs.ReadFile(fsys, found[0])
	if err != nil {
		return nil, fmt.Errorf("flowfile: %w", err)
	}
	return Parse(found[0], b)
}

// Parse parses and validates the flow file called name (used in errors)
// holding data. Every problem is an *Error wrapping ErrInvalid.
func Parse(name string, data []byte) (*Definition, error) {
	d := &decoder{file: name}
	if len(data) > MaxFileBytes {
		return nil, d.errAt(&yaml.Node{Line: 1, Column: 1}, "", "the file is larger than %d bytes", MaxFileBytes)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, d.errAt(&yaml.Node{Line: 1, Column: 1}, "", "the file is empty")
	}
	if err != nil {
		return nil, &Error{File: name, Line: yamlErrorLine(err), Column: 1, Msg: "not valid YAML or JSON: " + err.Error()}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, d.errAt(&extra, "", "the file holds more than one document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, d.errAt(&doc, "", "the file is empty")
	}
	def := &Definition{}
	top := doc.Content[0]
	m, err := d.machine(top, "", func(key string, k, v *yaml.Node) (bool, error) {
		switch key {
		case "Comment":
			s, err := d.str(v, key)
			def.Comment = s
			return true, err
		case "Version":
			if s, err := d.str(v, key); err != nil || s != "1.0" {
				return true, d.errAt(v, key, `must be "1.0"`)
			}
			return true, nil
		case "TimeoutSeconds":
			return true, d.errAt(k, key, "is not supported: the engine has no deadline for a whole request; set TimeoutSeconds on each Task")
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if err := d.check(m); err != nil {
		return nil, err
	}
	def.root = m
	return def, nil
}

// yamlErrorLine finds the line number in a yaml.v3 syntax error ("yaml:
// line 3: ..."), or 1.
func yamlErrorLine(err error) int {
	var line int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		if _, serr := fmt.Sscanf(msg[i:], "line %d", &line); serr == nil && line > 0 {
			return line
		}
	}
	return 1
}

// machine decodes a state machine at field path at. extra handles the
// fields a machine has in one place only (the file's Comment, Version…);
// it reports whether it knew the field.
func (d *decoder) machine(n *yaml.Node, at string, extra func(key string, k, v *yaml.Node) (bool, error)) (*machine, error) {
	m := &machine{at: at, node: n, states: map[string]*state{}}
	var statesN *yaml.Node
	err := d.fields(n, at, func(key string, k, v *yaml.Node) error {
		f := join(at, key)
		switch key {
		case "StartAt":
			s, err := d.nonEmpty(v, f)
			m.startAt, m.startN = s, v
			return err
		case "States":
			statesN = v
			return nil
		}
		if extra != nil {
			if ok, err := extra(key, k, v); ok || err != nil {
				return err
			}
		}
		return d.errAt(k, f, "unknown field (a state machine has StartAt, States and Comment)")
	})
	if err != nil {
		return nil, err
	}
	if m.startN == nil {
		return nil, d.errAt(n, join(at, "StartAt"), "missing")
	}
	if statesN == nil {
		return nil, d.errAt(n, join(at, "States"), "missing")
	}
	err = d.fields(statesN, join(at, "States"), func(name string, k, v *yaml.Node) error {
		s, err := d.state(name, k, v, join(join(at, "States"), name))
		if err == nil {
			m.states[name] = s
			m.order = append(m.order, s)
		}
		return err
	})
	if err == nil && len(m.order) == 0 {
		err = d.errAt(statesN, join(at, "States"), "must hold at least one state")
	}
	return m, err
}

// checkStateName refuses names the engine cannot use as node names.
func checkStateName(name string) string {
	switch {
	case name == "":
		return "a state name must not be empty"
	case utf8.RuneCountInString(name) > 80:
		return "a state name has at most 80 characters"
	case name == "." || name == "..":
		return "a state name must not be . or .."
	case strings.ContainsAny(name, "/[]"):
		return "a state name must not contain '/', '[' or ']' (they separate node ids)"
	case strings.IndexFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0:
		return "a state name must not contain control characters"
	}
	return ""
}
