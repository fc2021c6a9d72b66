// Package function is the "objectetl" example: an object-to-object ETL
// pipeline. A request names an object that landed in a bucket (the body a
// bucket notification posts); the flow fetches it from MinIO/S3, reads it
// as CSV or XML, splits its records into batches transformed in parallel
// by a foreach with the rules kept in etcd, and writes the JSON result and
// a fault report of the rejected records to the outgoing bucket. A file
// that cannot be read at all becomes one fault record. docs/etl.md tells
// how to run it and how to edit the rules.
package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Deps are what the flow reaches besides its own stores: the objects, the
// store holding the rules, and its settings.
type Deps struct {
	Objects  Objects
	Rules    faasflow.StateStore
	Settings Settings
}

// Open returns the flow's Deps. Nodes call it when they need them (never
// Define, which must stay cheap and deterministic).
type Open func(ctx context.Context) (*Deps, error)

// process holds the Deps of the flow function's process, opened from its
// configuration by the first node that needs them.
var process = &lazyDeps{open: func(ctx context.Context) (*Deps, error) { return Connect(ctx, os.Getenv) }}

// Define is the flow, on the objects and rules of the flow function's
// configuration.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	return NewDefine(process.get)(flow, context)
}

// maxBatchFailurePercent is the share of batches that may fail (each
// becoming a fault of all its records) before the request fails.
const maxBatchFailurePercent = 50

// NewDefine returns the flow's Define, reaching its Deps through open.
func NewDefine(open Open) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, fctx *faasflow.Context) error {
		s := &steps{open: open, fctx: fctx}
		retry := faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 3, InitialInterval: 200 * time.Millisecond})
		dag := flow.Dag()
		dag.Node("fetch", retry).ModifyContext(s.fetch)
		dag.Node("validate", retry).ModifyContext(s.validate)
		batches := dag.ForEachBranch("batches", split,
			faasflow.Aggregator(s.merge), faasflow.MaxConcurrency(4),
			faasflow.ToleratedFailurePercent(maxBatchFailurePercent))
		batches.Node("transform").Modify(transform)
		dag.Node("load", retry).ModifyContext(s.load)
		dag.Edge("fetch", "validate")
		dag.Edge("validate", "batches")
		dag.Edge("batches", "load")
		return nil
	}
}

// steps are the flow's nodes for one invocation.
type steps struct {
	open Open
	fctx *faasflow.Context
}

// fetched is the output of fetch: the event, and the object or why it is
// rejected whole.
type fetched struct {
	Event     Event  `json:"event"`
	Ignored   bool   `json:"ignored,omitempty"`
	FileFault string `json:"fileFault,omitempty"`
	Data      []byte `json:"data,omitempty"`
}

// fetch decodes the event and reads the object.
func (s *steps) fetch(ctx context.Context, in []byte) ([]byte, error) {
	ev, err := ParseEvent(in)
	if err != nil {
		return nil, faasflow.Permanent(err)
	}
	out := fetched{Event: ev}
	if !ev.Created() {
		out.Ignored = true
		return json.Marshal(out)
	}
	d, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	out.Data, err = d.Objects.Get(ctx, ev.Bucket, ev.Key, d.Settings.MaxObjectSize)
	switch {
	case errors.Is(err, ErrObjectTooLarge):
		out.FileFault = fmt.Sprintf("the object is larger than the limit of %d bytes (etl_max_object_size)", d.Settings.MaxObjectSize)
	case errors.Is(err, ErrObjectNotFound):
		return nil, faasflow.Permanent(err)
	case err != nil:
		return nil, err
	}
	return json.Marshal(out)
}

// source is what load needs to know of the input, kept in the request's
// Context by validate.
type source struct {
	Event     Event   `json:"event"`
	Ignored   bool    `json:"ignored,omitempty"`
	Format    string  `json:"format,omitempty"`
	Records   int     `json:"records"`
	FileFault string  `json:"fileFault,omitempty"`
	Faults    []Fault `json:"faults,omitempty"`
}

const sourceKey = "objectetl-source"

// plan is the output of validate: the records to transform and the rules
// to transform them with, read once for the whole request.
type plan struct {
	Rules     Rules    `json:"rules"`
	BatchSize int      `json:"batchSize"`
	Records   []record `json:"records"`
}

// validate reads the rules and the records of the object.
func (s *steps) validate(ctx context.Context, in []byte) ([]byte, error) {
	var f fetched
	if err := json.Unmarshal(in, &f); err != nil {
		return nil, faasflow.Permanent(fmt.Errorf("output of fetch: %w", err))
	}
	src := source{Event: f.Event, Ignored: f.Ignored, FileFault: f.FileFault}
	p := plan{BatchSize: DefaultBatchSize}
	if !f.Ignored && f.FileFault == "" {
		d, err := s.open(ctx)
		if err != nil {
			return nil, err
		}
		p.BatchSize = d.Settings.BatchSize
		if p.Rules, err = LoadRules(ctx, d.Rules, s.fctx.Name); err != nil {
			if errors.Is(err, ErrInvalidRules) {
				err = faasflow.Permanent(err)
			}
			return nil, err
		}
		p.Records, src.Faults, src.Format, src.FileFault = read(f.Event.Key, f.Data)
		src.Records = len(p.Records) + len(src.Faults)
	}
	b, err := json.Marshal(src)
	if err != nil {
		return nil, err
	}
	if err := s.fctx.Set(sourceKey, b); err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// read detects the format and parses data; a file that cannot be read
// at all gives no records and the reason.
func read(key string, data []byte) (recs []record, faults []Fault, format, fileFault string) {
	format, err := detectFormat(key, data)
	if err == nil {
		recs, faults, err = parse(format, data)
	}
	var fe *fileError
	if errors.As(err, &fe) {
		return nil, nil, format, fe.reason
	}
	return recs, faults, format, ""
}

// load writes the result and the fault report, and answers with a summary.
func (s *steps) load(ctx context.Context, in []byte) ([]byte, error) {
	var m merged
	if err := json.Unmarshal(in, &m); err != nil {
		return nil, faasflow.Permanent(fmt.Errorf("output of batches: %w", err))
	}
	b, err := s.fctx.LookupBytes(sourceKey)
	if err != nil {
		return nil, err
	}
	var src source
	if err := json.Unmarshal(b, &src); err != nil {
		return nil, faasflow.Permanent(fmt.Errorf("source of the request: %w", err))
	}
	if src.Ignored {
		return json.Marshal(Summary{Status: StatusIgnored, Input: src.Event.Bucket + "/" + src.Event.Key})
	}
	d, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	sum, report, err := outcome(src, m, d.Settings.OutputBucket)
	if err != nil {
		return nil, err
	}
	if src.FileFault == "" {
		if err := d.Objects.Put(ctx, d.Settings.OutputBucket, OutputKey(src.Event.Key), recordsJSON(m.Records), "application/json"); err != nil {
			return nil, err
		}
	}
	if err := d.Objects.Put(ctx, d.Settings.OutputBucket, FaultsKey(src.Event.Key), report, "application/json"); err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}
