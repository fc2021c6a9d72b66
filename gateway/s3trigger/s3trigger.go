package s3trigger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalidEvent is wrapped by Decode's errors: the body is not a bucket
// notification this package reads.
var ErrInvalidEvent = errors.New("invalid bucket notification")

// MaxBodyBytes bounds a notification's body.
const MaxBodyBytes = 1 << 20

// Object is one object event of a notification.
type Object struct {
	EventName string
	EventTime string
	Bucket    string
	// Key is the object's key, decoded (notifications carry it
	// URL-encoded).
	Key       string
	Size      int64
	ETag      string
	VersionID string
	Sequencer string
}

// Created reports whether the event is the creation of an object
// (s3:ObjectCreated:* from MinIO, ObjectCreated:* from S3).
func (o Object) Created() bool {
	return strings.HasPrefix(strings.TrimPrefix(o.EventName, "s3:"), "ObjectCreated:")
}

// RequestID is the id of the request o starts: the same for every
// delivery of the same event (bucket, key, version or ETag, and
// sequencer), so that a notification delivered twice starts one request.
func (o Object) RequestID() string {
	h := sha256.New()
	for _, part := range []string{o.Bucket, o.Key, o.VersionID, o.ETag, o.Sequencer} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "s3-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// Body is the JSON request body a flow started by o receives.
type Body struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"etag"`
	VersionID string `json:"versionId"`
	EventName string `json:"eventName"`
	EventTime string `json:"eventTime"`
}

// Body returns the request body of o, encoded.
func (o Object) Body() []byte {
	b, _ := json.Marshal(Body{Bucket: o.Bucket, Key: o.Key, Size: o.Size, ETag: o.ETag, VersionID: o.VersionID, EventName: o.EventName, EventTime: o.EventTime})
	return b
}

// notification is the part of a MinIO webhook body, an S3 event and an
// SNS envelope Decode reads.
type notification struct {
	Records []record `json:"Records"`
	// SNS: Type "Notification" and the S3 event, as a string, in Message.
	Type    string `json:"Type"`
	Message string `json:"Message"`
	// EventBridge: source aws.s3, the event in detail.
	Source     string             `json:"source"`
	DetailType string             `json:"detail-type"`
	Time       string             `json:"time"`
	Detail     *eventBridgeDetail `json:"detail"`
}

// eventBridgeDetail is the detail of an S3 event on EventBridge, whose
// object key is not URL-encoded.
type eventBridgeDetail struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string      `json:"key"`
		Size      json.Number `json:"size"`
		ETag      string      `json:"etag"`
		VersionID string      `json:"version-id"`
		Sequencer string      `json:"sequencer"`
	} `json:"object"`
	Reason string `json:"reason"`
}

// eventBridgeRecord is the event of an EventBridge notification as a
// record, its key encoded as a record's is.
func (n *notification) eventBridgeRecord() record {
	var r record
	d := n.Detail
	r.EventName = strings.ReplaceAll(n.DetailType, " ", "") + ":" + d.Reason
	r.EventTime = n.Time
	r.S3.Bucket.Name = d.Bucket.Name
	r.S3.Object.Key = url.QueryEscape(d.Object.Key)
	r.S3.Object.Size, r.S3.Object.ETag = d.Object.Size, d.Object.ETag
	r.S3.Object.VersionID, r.S3.Object.Sequencer = d.Object.VersionID, d.Object.Sequencer
	return r
}

type record struct {
	EventName string `json:"eventName"`
	EventTime string `json:"eventTime"`
	S3        struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string      `json:"key"`
			Size      json.Number `json:"size"`
			ETag      string      `json:"eTag"`
			VersionID string      `json:"versionId"`
			Sequencer string      `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// Decode reads the object events of a notification body: a MinIO
// webhook's ({"EventName":…,"Key":…,"Records":[…]}), an S3 event
// ({"Records":[…]}), an SNS notification carrying one, or an S3 event of
// EventBridge ({"source":"aws.s3","detail-type":"Object Created",
// "detail":{…}}, its event name becoming "ObjectCreated:<reason>"). An event without
// a bucket name, an object key or a valid size is an error wrapping
// ErrInvalidEvent, as is a body with no records.
func Decode(body []byte) ([]Object, error) {
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrInvalidEvent, MaxBodyBytes)
	}
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if n.Type == "Notification" && len(n.Records) == 0 {
		var inner notification
		if err := json.Unmarshal([]byte(n.Message), &inner); err != nil {
			return nil, fmt.Errorf("%w: SNS message: %w", ErrInvalidEvent, err)
		}
		n.Records = inner.Records
	}
	if n.Source == "aws.s3" && n.Detail != nil && len(n.Records) == 0 {
		n.Records = []record{n.eventBridgeRecord()}
	}
	if len(n.Records) == 0 {
		return nil, fmt.Errorf("%w: no Records", ErrInvalidEvent)
	}
	out := make([]Object, 0, len(n.Records))
	for i, r := range n.Records {
		o, err := r.object()
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", ErrInvalidEvent, i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

func (r *record) object() (Object, error) {
	o := Object{
		EventName: r.EventName, EventTime: r.EventTime, Bucket: r.S3.Bucket.Name,
		ETag: strings.Trim(r.S3.Object.ETag, `"`), VersionID: r.S3.Object.VersionID, Sequencer: r.S3.Object.Sequencer,
	}
	if o.EventName == "" {
		return o, errors.New("no eventName")
	}
	if o.Bucket == "" {
		return o, errors.New("no s3.bucket.name")
	}
	key, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil || key == "" {
		return o, fmt.Errorf("s3.object.key %q is not a URL-encoded key", r.S3.Object.Key)
	}
	o.Key = key
	if s := r.S3.Object.Size.String(); s != "" {
		if o.Size, err = r.S3.Object.Size.Int64(); err != nil || o.Size < 0 {
			return o, fmt.Errorf("s3.object.size %q is not a size", s)
		}
	}
	return o, nil
}
