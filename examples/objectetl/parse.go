package function

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"
)

// ErrBadEvent is wrapped by the errors of a request body that is not an
// object event the flow can act on.
var ErrBadEvent = errors.New("bad object event")

// Event is the request body that starts the flow: the object that landed,
// as a bucket notification describes it.
type Event struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Size      int64  `json:"size,omitempty"`
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	EventName string `json:"eventName,omitempty"`
	EventTime string `json:"eventTime,omitempty"`
}

// ParseEvent decodes and checks a request body.
func ParseEvent(b []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	if dec.More() {
		return Event{}, fmt.Errorf("%w: data after the event object", ErrBadEvent)
	}
	switch {
	case e.Bucket == "" || e.Key == "":
		return Event{}, fmt.Errorf("%w: bucket and key are required", ErrBadEvent)
	case len(e.Bucket) > 63 || len(e.Key) > 1024:
		return Event{}, fmt.Errorf("%w: bucket or key too long", ErrBadEvent)
	case !utf8.ValidString(e.Key) || strings.ContainsRune(e.Key, 0):
		return Event{}, fmt.Errorf("%w: key is not valid UTF-8", ErrBadEvent)
	case e.Size < 0:
		return Event{}, fmt.Errorf("%w: negative size", ErrBadEvent)
	}
	return e, nil
}

// Created reports whether the event is about an object being written (an
// event without a name counts as one); other events are ignored.
func (e Event) Created() bool {
	return e.EventName == "" || strings.HasPrefix(e.EventName, "s3:ObjectCreated:")
}

// Formats the flow reads.
const (
	FormatCSV = "csv"
	FormatXML = "xml"
)

// fileError says why a whole file cannot be read; the file then becomes
// one fault record.
type fileError struct{ reason string }

func (e *fileError) Error() string { return e.reason }

func fileErrorf(format string, args ...any) error {
	return &fileError{reason: fmt.Sprintf(format, args...)}
}

// detectFormat picks the format from the key's extension, else from the
// content: XML starts with '<'.
func detectFormat(key string, data []byte) (string, error) {
	switch strings.ToLower(path.Ext(key)) {
	case ".csv":
		return FormatCSV, nil
	case ".xml":
		return FormatXML, nil
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case len(t) == 0:
		return "", fileErrorf("the file is empty")
	case t[0] == '<':
		return FormatXML, nil
	case bytes.IndexByte(firstLine(t), ',') >= 0:
		return FormatCSV, nil
	}
	return "", fileErrorf("the format is neither CSV nor XML (by extension or content)")
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// parse reads the records of data. A record that cannot be read becomes a
// fault; a file that cannot be read at all is a *fileError.
func parse(format string, data []byte) ([]record, []Fault, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fileErrorf("the file is empty")
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return nil, nil, fileErrorf("the file is not text (binary data or not UTF-8)")
	}
	if format == FormatXML {
		return parseXML(data)
	}
	return parseCSV(data)
}

// parseCSV reads a CSV file whose first line names the fields. A line with
// another number of fields, or that is not valid CSV, becomes a fault.
func parseCSV(data []byte) ([]record, []Fault, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		return nil, nil, fileErrorf("the CSV header cannot be read: %v", err)
	}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" || seen[h] {
			return nil, nil, fileErrorf("the CSV header has an empty or repeated name (column %d)", i+1)
		}
		seen[h], header[i] = true, h
	}
	var recs []record
	var faults []Fault
	for n := 1; ; n++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			faults = append(faults, Fault{Record: n, Line: pe.StartLine, Reason: "not valid CSV: " + pe.Err.Error()})
			continue
		}
		if err != nil {
			return nil, nil, fileErrorf("reading the CSV stopped at record %d: %v", n, err)
		}
		line, _ := r.FieldPos(0)
		if len(row) != len(header) {
			faults = append(faults, Fault{Record: n, Line: line, Reason: fmt.Sprintf("%d fields, the header has %d", len(row), len(header))})
			continue
		}
		rec := record{N: n, Line: line, Fields: make([]field, len(row))}
		for i, v := range row {
			rec.Fields[i] = field{Name: header[i], Value: v}
		}
		recs = append(recs, rec)
	}
	return recs, faults, nil
}

// parseXML reads an XML document whose root element holds one element per
// record; a record's attributes and child elements are its fields. A record
// with a child that has children of its own becomes a fault. A document
// that is not well-formed is not read at all: after a syntax error nothing
// in it can be trusted.
func parseXML(data []byte) ([]record, []Fault, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var recs []record
	var faults []Fault
	depth, n := 0, 0
	rootSeen := false
	for {
		line, _ := d.InputPos()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fileErrorf("not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if rootSeen {
					return nil, nil, fileErrorf("not well-formed XML: a second root element <%s>", t.Name.Local)
				}
				rootSeen, depth = true, 1
				continue
			}
			n++
			rec, fault, err := readXMLRecord(d, t, n, line)
			if err != nil {
				return nil, nil, fileErrorf("not well-formed XML: %v", err)
			}
			if fault != nil {
				faults = append(faults, *fault)
			} else {
				recs = append(recs, rec)
			}
		case xml.EndElement:
			depth--
		}
	}
	if !rootSeen {
		return nil, nil, fileErrorf("the XML document has no root element")
	}
	return recs, faults, nil
}

// readXMLRecord reads the record element start (whose start tag was just
// read) up to its end tag.
func readXMLRecord(d *xml.Decoder, start xml.StartElement, n, line int) (record, *Fault, error) {
	rec := record{N: n, Line: line}
	for _, a := range start.Attr {
		rec.Fields = append(rec.Fields, field{Name: a.Name.Local, Value: a.Value})
	}
	var fault *Fault
	var name string
	var text strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return record{}, nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && fault == nil {
				fault = &Fault{Record: n, Line: line, Field: name, Reason: fmt.Sprintf("field <%s> holds an element <%s>", name, t.Name.Local)}
			}
			name = t.Name.Local
			text.Reset()
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			if depth == 0 {
				return rec, fault, nil
			}
			if depth == 1 {
				rec.Fields = append(rec.Fields, field{Name: name, Value: strings.TrimSpace(text.String())})
			}
			depth--
		}
	}
}
