package notify_test

import (
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/algotrendy/rewind/activities/notify"
)

// TestRedact checks that Redact strips URL paths and secrets from error text however the
// error was wrapped, and cuts the chain Temporal would otherwise record.
func TestRedact(t *testing.T) {
	hookErr := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/services/T000/B000/SECRET", Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}
	for _, tc := range []struct {
		name    string
		err     error
		secrets []string
		want    string
	}{
		{
			name: "url.Error keeps scheme and host",
			err:  hookErr,
			want: `Post "http://127.0.0.1:1": dial tcp 127.0.0.1:1: connect: connection refused`,
		},
		{
			name: "url.Error wrapped with %w",
			err:  fmt.Errorf("post to slack webhook: %w", hookErr),
			want: `post to slack webhook: Post "http://127.0.0.1:1": dial tcp 127.0.0.1:1: connect: connection refused`,
		},
		{
			name: "url.Error flattened with %v, as go-pagerduty does",
			err:  fmt.Errorf("error calling the API endpoint: %v", hookErr),
			want: `error calling the API endpoint: Post "http://127.0.0.1:1": dial tcp 127.0.0.1:1: connect: connection refused`,
		},
		{
			name: "password and query of a URL in text",
			err:  errors.New("GET https://rewind:SECRETPW@chat.example.com/hooks/SECRET?token=SECRET failed"),
			want: "GET https://chat.example.com failed",
		},
		{
			name:    "a secret in the text",
			err:     errors.New("routing_key R0UTING-SECRET-KEY is invalid"),
			secrets: []string{"R0UTING-SECRET-KEY"},
			want:    "routing_key [redacted] is invalid",
		},
		{
			name:    "a URL-escaped secret",
			err:     errors.New("bad form: token=xoxb-1%2FSECRET%2B2"),
			secrets: []string{"xoxb-1/SECRET+2"},
			want:    "bad form: token=[redacted]",
		},
		{
			name:    "longest secret first",
			err:     errors.New("path /services/T000/B000/SECRETTOKEN not found"),
			secrets: []string{"SECRETTOKEN", "/services/T000/B000/SECRETTOKEN"},
			want:    "path [redacted] not found",
		},
		{
			name:    "too short to be a secret",
			err:     errors.New("grab the lock"),
			secrets: []string{"ab", ""},
			want:    "grab the lock",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := notify.Redact(tc.err, tc.secrets...)
			assert.EqualError(t, got, tc.want)
			assert.Nil(t, errors.Unwrap(got), "the original must not be reachable")
			_, isURLErr := errors.AsType[*url.Error](got)
			assert.False(t, isURLErr)
		})
	}
	assert.NoError(t, notify.Redact(nil, "SECRET"))
}
