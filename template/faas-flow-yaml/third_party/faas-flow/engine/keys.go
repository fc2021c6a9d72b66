package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// Key layout. The record of a request lives under "r/<flow>/<request>"; a
// request that has not finished is listed under "a/<flow>/<request>" for
// the reconciler; everything one incarnation of a running request needs
// lives under "w/<flow>/<request>/<incarnation>/" and is deleted in one
// prefix delete when the request ends. Flow names, request ids and branch
// keys are path-escaped so user data cannot leave its prefix, and the
// incarnation in the work prefix keeps a reused request id from ever
// touching what an earlier request with that id left behind.
//
//	r/<flow>/<req>                      request record (StateStore; TTL = retention after end)
//	a/<flow>/<req>/<inc>                the request is unfinished (StateStore; the reconciler's index)
//	w/<flow>/<req>/<inc>/n/<instance>   node record, holding the hop that starts the node (StateStore)
//	w/<flow>/<req>/<inc>/o/<instance>   the hop of a node reserved ahead, sent before its parent's last write (StateStore)
//	w/<flow>/<req>/<inc>/j/<instance>/<pred>  join arrival (StateStore marker + DataStore data)
//	w/<flow>/<req>/<inc>/b/<instance>/<key>   branch result (StateStore marker + DataStore data)
//	w/<flow>/<req>/<inc>/bi/<instance>/<key>  branch input (DataStore)
//	w/<flow>/<req>/<inc>/h/<hop>        hop input larger than the inline limit (DataStore)
//	w/<flow>/<req>/<inc>/ctx/<key>      Context values (DataStore)
//	r/<flow>/<req>/result               final result larger than the inline limit (DataStore)
//	l/<flow>/<inverted start>/<req>     the request in the listing index (StateStore; see listing.go)
type keys struct {
	record string
	active string
	work   string
	result string
	// listed is the request's entry in the listing index (see listing.go),
	// known where the request starts.
	listed string
}

func newKeys(flow, req, inc string) keys {
	f, r := url.PathEscape(flow), url.PathEscape(req)
	return keys{
		record: "r/" + f + "/" + r,
		active: "a/" + f + "/" + r + "/" + url.PathEscape(inc),
		work:   "w/" + f + "/" + r + "/" + url.PathEscape(inc) + "/",
		result: "r/" + f + "/" + r + "/result",
	}
}

// flowPrefixes are the prefixes of every request's working data and of every
// request's record and result of flow.
func flowPrefixes(flow string) (work, results string) {
	f := url.PathEscape(flow)
	return "w/" + f + "/", "r/" + f + "/"
}

// activePrefix is the prefix of the reconciler's index of flow.
func activePrefix(flow string) string { return "a/" + url.PathEscape(flow) + "/" }

func (k keys) node(inst string) string { return k.work + "n/" + inst }
func (k keys) nodes() string           { return k.work + "n/" }
func (k keys) join(inst, pred string) string {
	return k.work + "j/" + inst + "/" + url.PathEscape(pred)
}
func (k keys) joins(inst string) string { return k.work + "j/" + inst + "/" }
func (k keys) branch(inst, key string) string {
	return k.work + "b/" + inst + "/" + url.PathEscape(key)
}
func (k keys) branches(inst string) string { return k.work + "b/" + inst + "/" }
func (k keys) branchInput(inst, key string) string {
	return k.work + "bi/" + inst + "/" + url.PathEscape(key)
}
func (k keys) hopData(hop string) string { return k.work + "h/" + hop }
func (k keys) outbox(inst string) string { return k.work + "o/" + inst }

// newIncarnation returns a fresh identity for one use of a request id.
func newIncarnation() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// hopID is the idempotency key of the hop that starts instance inst of
// incarnation inc of request req: every send of it, first or again, carries
// the same id.
func hopID(req, inc, inst string) string {
	h := sha256.Sum256([]byte(strings.Join([]string{req, inc, inst}, "\x00")))
	return hex.EncodeToString(h[:12])
}
