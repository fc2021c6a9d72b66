package natsqueue

import "testing"

func TestNATSURLsShownInErrorsHideTheirPasswords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://faasflow:s3cret@127.0.0.1:4222", "nats://faasflow:xxxxx@127.0.0.1:4222"},
		{"nats://a:p1@h1:4222,nats://h2:4222", "nats://a:xxxxx@h1:4222,nats://h2:4222"},
	}
	for _, tt := range tests {
		if got := redactURLs(tt.in); got != tt.want {
			t.Errorf("redactURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
