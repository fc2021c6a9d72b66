package sdk

import "strconv"

// OpKind tells how an operation runs.
type OpKind int

// Operation kinds.
const (
	OpModify   OpKind = iota // inline Go function
	OpFunction               // OpenFaaS function call through the gateway
	OpRequest                // HTTP call to a URL
	OpCallback               // HTTP POST of the data; data passes through
	OpCustom                 // user Operation
)

// Op is one operation of a node as the executor sees it.
type Op struct {
	Kind          OpKind
	Modify        Modifier
	ModifyContext ContextModifier
	Target        string // function name or URL
	Options       Options
	Custom        Operation
	index         int
}

// ID names the operation in traces and exports: the function name, the URL,
// "modifier-<n>" or the custom operation's id.
func (o *Op) ID() string {
	switch o.Kind {
	case OpFunction:
		return o.Target
	case OpRequest:
		return "http-req:" + o.Target
	case OpCallback:
		return "callback:" + o.Target
	case OpCustom:
		if o.Custom != nil {
			return o.Custom.GetId()
		}
	}
	return "modifier-" + strconv.Itoa(o.index)
}

// Index returns the position of the operation in its node.
func (o *Op) Index() int { return o.index }
