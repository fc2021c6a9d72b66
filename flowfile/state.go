package flowfile

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// allowed lists the fields each supported state type accepts, after Type
// and Comment, which all accept.
func allowed(typ string) []string {
	paths := []string{"InputPath", "OutputPath"}
	flow := []string{"Next", "End"}
	switch typ {
	case typeTask:
		return append(append([]string{"Resource", "TimeoutSeconds", "Retry", "Parameters", "ResultSelector", "ResultPath"}, flow...), paths...)
	case typePass:
		return append(append([]string{"Result", "Parameters", "ResultPath"}, flow...), paths...)
	case typeChoice:
		// OutputPath would apply after the rules were evaluated, on the
		// data the branch receives; the conditional node cannot do that.
		return []string{"Choices", "Default", "InputPath"}
	case typeParallel:
		return append(append([]string{"Branches"}, flow...), paths...)
	case typeMap:
		return append(append([]string{"ItemsPath", "Iterator", "ItemProcessor", "MaxConcurrency",
			"ToleratedFailureCount", "ToleratedFailurePercentage"}, flow...), paths...)
	case typeSucceed:
		return paths
	case typeFail:
		return []string{"Error", "Cause"}
	}
	return nil
}

// refusedType says why a state type of the Amazon States Language is not
// supported, or "" for a type that is.
func refusedType(typ string) string {
	switch typ {
	case "Wait":
		return "Wait states are not supported: the engine has no timer to resume a request later"
	case typeTask, typePass, typeChoice, typeParallel, typeMap, typeSucceed, typeFail:
		return ""
	}
	return fmt.Sprintf("unknown state type %q (supported: Task, Pass, Choice, Parallel, Map, Succeed, Fail)", typ)
}

// refusedField says why a field of the Amazon States Language is not
// supported, or "" for a field this package does not know at all.
func refusedField(key string) string {
	switch key {
	case "Catch":
		return "is not supported: the engine has no transition on error; use Retry, or handle the failure in the caller or the function"
	case "ResultPath", "Parameters":
		return "is supported on Task and Pass states only"
	case "ResultSelector":
		return "is supported on Task states only"
	case "ItemSelector", "Arguments", "Output", "Assign":
		return "is not supported: shape the data with Parameters or in a function instead"
	case "QueryLanguage":
		return "is not supported: only JSONPath is"
	case "HeartbeatSeconds", "HeartbeatSecondsPath":
		return "is not supported: functions send no heartbeat; use TimeoutSeconds"
	case "TimeoutSecondsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath", "ErrorPath", "CausePath":
		return "is not supported: the value must be written in the file"
	case "ItemReader", "ResultWriter", "ItemBatcher", "Label":
		return "is not supported: only inline Map states are"
	case "Credentials":
		return "is not supported: functions are called through the gateway"
	}
	return ""
}

// state decodes the state called name (key k, value v) at field path at.
func (d *decoder) state(name string, k, v *yaml.Node, at string) (*state, error) {
	if msg := checkStateName(name); msg != "" {
		return nil, d.errAt(k, at, "%s", msg)
	}
	s := &state{name: name, at: at, key: k}
	if v.Kind != yaml.MappingNode {
		return nil, d.errAt(v, at, "a state must be a mapping, not %s", kindName(v))
	}
	var typeN *yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value == "Type" {
			typeN = v.Content[i+1]
		}
	}
	if typeN == nil {
		return nil, d.errAt(k, join(at, "Type"), "missing")
	}
	typ, err := d.str(typeN, join(at, "Type"))
	if err != nil {
		return nil, err
	}
	if msg := refusedType(typ); msg != "" {
		return nil, d.errAt(typeN, join(at, "Type"), "%s", msg)
	}
	s.typ = typ
	s.itemsPath = path{text: "$"}
	ok := map[string]bool{"Type": true, "Comment": true}
	for _, f := range allowed(typ) {
		ok[f] = true
	}
	err = d.fields(v, at, func(key string, fk, fv *yaml.Node) error {
		f := join(at, key)
		if !ok[key] {
			if why := refusedField(key); why != "" {
				return d.errAt(fk, f, "%s", why)
			}
			return d.errAt(fk, f, "unknown field for a %s state (it accepts %s)", typ, strings.Join(allowed(typ), ", "))
		}
		return d.field(s, key, fv, f)
	})
	if err != nil {
		return nil, err
	}
	return s, d.complete(s, v)
}

// field decodes one field of state s.
func (d *decoder) field(s *state, key string, v *yaml.Node, at string) error {
	var err error
	switch key {
	case "Type":
	case "Comment":
		_, err = d.str(v, at)
	case "Next":
		s.next, err = d.nonEmpty(v, at)
		s.nextN = v
	case "End":
		s.end, err = d.boolean(v, at)
	case "InputPath", "OutputPath":
		var p path
		if p, err = d.path(v, at); err == nil && key == "InputPath" {
			s.inputPath = &p
		} else if err == nil {
			s.outputPath = &p
		}
	case "Resource":
		s.function, err = d.resource(v, at)
	case "TimeoutSeconds":
		s.timeout, err = d.seconds(v, at)
	case "Retry":
		s.retry, err = d.retry(v, at)
	case "Result":
		s.result, err = d.anyJSON(v, at)
	case "Choices":
		s.choices, err = d.choices(v, at)
	case "Default":
		s.def, err = d.nonEmpty(v, at)
		s.defN = v
	case "Branches":
		s.branches, err = d.branches(v, at)
	case "Parameters":
		s.parameters, err = d.payload(v, at)
	case "ResultSelector":
		s.resultSelector, err = d.payload(v, at)
	case "ResultPath":
		s.resultPath, s.discardResult, err = d.resultPath(v, at)
	case "Error":
		s.errName, err = d.str(v, at)
	case "Cause":
		s.cause, err = d.str(v, at)
	default:
		return d.mapField(s, key, v, at)
	}
	return err
}

// mapField decodes the fields of a Map state.
func (d *decoder) mapField(s *state, key string, v *yaml.Node, at string) error {
	var err error
	switch key {
	case "ItemsPath":
		s.itemsPath, err = d.path(v, at)
	case "Iterator", "ItemProcessor":
		if s.iterator != nil {
			return d.errAt(v, at, "give Iterator or ItemProcessor, not both")
		}
		s.iterator, err = d.machine(v, at, func(key string, k, v *yaml.Node) (bool, error) {
			if key != "ProcessorConfig" {
				return false, nil
			}
			return true, d.processorConfig(v, join(at, key))
		})
	case "MaxConcurrency":
		s.maxConcurrency, err = d.integer(v, at, 0, 1<<20)
	case "ToleratedFailureCount":
		s.tolCount, err = d.integer(v, at, 0, 1<<30)
	case "ToleratedFailurePercentage":
		if s.tolPct, err = d.number(v, at); err == nil && (s.tolPct < 0 || s.tolPct > 100) {
			err = d.errAt(v, at, "must be from 0 to 100")
		}
	}
	return err
}

// processorConfig accepts the inline mode only.
func (d *decoder) processorConfig(n *yaml.Node, at string) error {
	return d.fields(n, at, func(key string, k, v *yaml.Node) error {
		if key != "Mode" {
			return d.errAt(k, join(at, key), "is not supported: only Mode: INLINE is")
		}
		if s, err := d.str(v, join(at, key)); err != nil || s != "INLINE" {
			return d.errAt(v, join(at, key), "must be INLINE: distributed maps are not supported")
		}
		return nil
	})
}

// resource decodes a Task's Resource, "function:<name>".
func (d *decoder) resource(n *yaml.Node, at string) (string, error) {
	s, err := d.str(n, at)
	if err != nil {
		return "", err
	}
	fn, ok := strings.CutPrefix(s, "function:")
	if !ok || fn == "" || strings.ContainsAny(fn, "/?#: \t\r\n") {
		return "", d.errAt(n, at, `must be "function:<name>", naming an OpenFaaS function, not %q`, s)
	}
	return fn, nil
}

// complete checks the fields a state of its type must have.
func (d *decoder) complete(s *state, n *yaml.Node) error {
	switch s.typ {
	case typeTask, typePass, typeParallel, typeMap:
		if s.next != "" && s.end {
			return d.errAt(s.nextN, join(s.at, "Next"), "give Next or End: true, not both")
		}
		if s.next == "" && !s.end {
			return d.errAt(s.key, join(s.at, "Next"), "missing: give Next or End: true")
		}
	}
	switch {
	case s.typ == typeTask && s.function == "":
		return d.errAt(s.key, join(s.at, "Resource"), `missing: give Resource: "function:<name>"`)
	case s.typ == typeChoice && len(s.choices) == 0:
		return d.errAt(s.key, join(s.at, "Choices"), "missing")
	case s.typ == typeParallel && len(s.branches) == 0:
		return d.errAt(s.key, join(s.at, "Branches"), "missing")
	case s.typ == typeMap && s.iterator == nil:
		return d.errAt(s.key, join(s.at, "ItemProcessor"), "missing: give ItemProcessor (or Iterator)")
	}
	return nil
}

// branches decodes the Branches of a Parallel state.
func (d *decoder) branches(n *yaml.Node, at string) ([]*machine, error) {
	items, err := d.list(n, at)
	if err != nil {
		return nil, err
	}
	out := make([]*machine, 0, len(items))
	for i, b := range items {
		m, err := d.machine(b, fmt.Sprintf("%s[%d]", at, i), nil)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
