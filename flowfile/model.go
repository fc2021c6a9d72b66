package flowfile

import (
	"encoding/json"
	"time"

	"gopkg.in/yaml.v3"
)

// machine is a state machine: the file itself, a branch of a Parallel
// state or the item processor of a Map state.
type machine struct {
	at      string // field path of the machine, "" for the file
	node    *yaml.Node
	startAt string
	startN  *yaml.Node
	states  map[string]*state
	order   []*state
	plan    chain // set by check
}

// state is one state of a machine; which fields are set depends on typ.
type state struct {
	name  string
	at    string // field path, "States.<name>"
	key   *yaml.Node
	typ   string
	next  string
	nextN *yaml.Node
	end   bool

	inputPath, outputPath *path
	// Task and Pass
	parameters    *payload
	resultPath    *path // nil: "$", unless discardResult
	discardResult bool  // ResultPath: null
	// Task
	resultSelector *payload

	// Task
	function string
	timeout  time.Duration
	retry    *retrier
	// Pass
	result json.RawMessage
	// Choice
	choices []*choice
	def     string
	defN    *yaml.Node
	// Parallel
	branches []*machine
	// Map
	itemsPath      path
	iterator       *machine
	maxConcurrency int
	tolCount       int
	tolPct         float64
	// Fail
	errName, cause string
}

// choice is one rule of a Choice state and the state it leads to.
type choice struct {
	rule  *rule
	next  string
	nextN *yaml.Node
	at    string
}

// retrier is a Task's Retry entry.
type retrier struct {
	errors      []string
	interval    time.Duration
	maxAttempts int // retries after the first attempt
	backoff     float64
	maxDelay    time.Duration
	jitter      bool
}

// successors returns the states s may go to next, with the nodes that name
// them.
func (s *state) successors() ([]string, []*yaml.Node) {
	if s.typ != typeChoice {
		if s.next == "" {
			return nil, nil
		}
		return []string{s.next}, []*yaml.Node{s.nextN}
	}
	var names []string
	var nodes []*yaml.Node
	for _, c := range s.choices {
		names, nodes = append(names, c.next), append(nodes, c.nextN)
	}
	if s.def != "" {
		names, nodes = append(names, s.def), append(nodes, s.defN)
	}
	return names, nodes
}

// State types.
const (
	typeTask     = "Task"
	typePass     = "Pass"
	typeChoice   = "Choice"
	typeParallel = "Parallel"
	typeMap      = "Map"
	typeSucceed  = "Succeed"
	typeFail     = "Fail"
)
