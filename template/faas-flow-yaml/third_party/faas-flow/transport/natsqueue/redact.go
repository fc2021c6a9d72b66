package natsqueue

import (
	"net/url"
	"strings"
)

// redactURLs is a comma-separated list of NATS URLs as it may be shown in
// errors and logs: any password in them replaced by xxxxx.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
