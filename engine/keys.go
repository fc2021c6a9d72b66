package engine

import (
	"net/url"
)

// Key layout. Request records live under "r/<flow>/<request>"; everything a
// running request needs lives under "w/<flow>/<request>/" and is deleted in
// one prefix delete when the request ends. Flow names, request ids and branch
// keys are path-escaped so user data cannot leave its prefix.
//
//	r/<flow>/<req>                 request record (StateStore; TTL = retention after end)
//	w/<flow>/<req>/n/<instance>    node record (StateStore)
//	w/<flow>/<req>/j/<instance>/<pred>   join arrival (StateStore marker + DataStore data)
//	w/<flow>/<req>/b/<instance>/<key>    branch result (StateStore marker + DataStore data)
//	w/<flow>/<req>/bi/<instance>/<key>   branch input (DataStore)
//	w/<flow>/<req>/h/<hop>         hop input larger than the inline limit (DataStore)
//	w/<flow>/<req>/p/<hop>         parked hop of a paused request (StateStore)
//	w/<flow>/<req>/ctx/<key>       Context values (DataStore)
//	r/<flow>/<req>/result          final result larger than the inline limit (DataStore)
type keys struct {
	record string
	work   string
	result string
}

func newKeys(flow, req string) keys {
	f, r := url.PathEscape(flow), url.PathEscape(req)
	return keys{
		record: "r/" + f + "/" + r,
		work:   "w/" + f + "/" + r + "/",
		result: "r/" + f + "/" + r + "/result",
	}
}

// flowPrefixes are the prefixes of every request's working data and of every
// request's record and result of flow.
func flowPrefixes(flow string) (work, results string) {
	f := url.PathEscape(flow)
	return "w/" + f + "/", "r/" + f + "/"
}

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
func (k keys) parked(hop string) string  { return k.work + "p/" + hop }
func (k keys) parkedAll() string         { return k.work + "p/" }
