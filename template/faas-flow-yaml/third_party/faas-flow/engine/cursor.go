package engine

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/faas-flow/faas-flow/sdk"
)

// resolve finds the definition node a cursor names.
func (r *run) resolve(cursor []Frame) (*sdk.Node, error) {
	d := r.wf.Dag()
	var n *sdk.Node
	for i, f := range cursor {
		if d == nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalidCursor, instanceID(cursor))
		}
		n = d.Lookup(f.Node)
		if n == nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalidCursor, instanceID(cursor))
		}
		if i == len(cursor)-1 {
			break
		}
		switch n.Kind() {
		case sdk.KindSubDag, sdk.KindForEach:
			d = n.SubDag()
		case sdk.KindConditional:
			d = n.Branch(f.Key)
		default:
			d = nil
		}
	}
	return n, nil
}

// parseInstance turns an instance id back into a cursor.
func parseInstance(inst string) ([]Frame, error) {
	var c []Frame
	for _, seg := range splitSlash(inst) {
		f := Frame{Node: seg}
		if i := indexByte(seg, '['); i >= 0 && seg[len(seg)-1] == ']' {
			key, err := url.PathUnescape(seg[i+1 : len(seg)-1])
			if err != nil {
				return nil, fmt.Errorf("%w: %s", ErrInvalidCursor, inst)
			}
			f = Frame{Node: seg[:i], Key: key}
		}
		if f.Node == "" {
			return nil, fmt.Errorf("%w: %s", ErrInvalidCursor, inst)
		}
		c = append(c, f)
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidCursor)
	}
	return c, nil
}

// InstanceID renders a cursor as an instance id: frames joined by "/", a
// branch key (path-escaped) in brackets after the frame it belongs to
// ("split[a]/fetch"). State records, NodeInfo.Node and traces use it.
func InstanceID(c []Frame) string { return instanceID(c) }

func instanceID(c []Frame) string {
	var b strings.Builder
	for i, f := range c {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(f.Node)
		if f.Key != "" {
			b.WriteByte('[')
			b.WriteString(url.PathEscape(f.Key))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// validRequestID reports whether a caller-supplied request id is acceptable:
// 1 to 128 characters from [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return id != "." && id != ".."
}
