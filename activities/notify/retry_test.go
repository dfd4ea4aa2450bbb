package notify

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.temporal.io/sdk/log"
)

// flakyBackend fails its first failures deliveries with err, then takes them.
type flakyBackend struct {
	failures int
	err      error
	tries    int
}

func (f *flakyBackend) name() string      { return "flaky" }
func (f *flakyBackend) accepts(Kind) bool { return true }

func (f *flakyBackend) deliver(context.Context, Event) (SlackMessage, error) {
	f.tries++
	if f.tries <= f.failures {
		return SlackMessage{}, f.err
	}
	return SlackMessage{Channel: "C1", TS: "1.1"}, nil
}

// TestDeliverRetries checks the retry loop inside one Notify call: transient failures are
// retried up to the attempts, permanent ones are not, and a cancelled context ends the
// backoff at once instead of waiting it out.
func TestDeliverRetries(t *testing.T) {
	transient := errors.New("connection reset")
	for _, tc := range []struct {
		name      string
		failures  int
		err       error
		backoff   time.Duration
		cancelled bool
		wantTries int
		wantErr   string
	}{
		{name: "first try", failures: 0, backoff: time.Millisecond, wantTries: 1},
		{name: "transient then delivered", failures: 2, err: transient, backoff: time.Millisecond, wantTries: 3},
		{name: "transient every time", failures: 5, err: transient, backoff: time.Millisecond, wantTries: 3, wantErr: "connection reset"},
		{name: "permanent refusal", failures: 5, err: permanent(errors.New("invalid_auth")), backoff: time.Millisecond, wantTries: 1, wantErr: "invalid_auth"},
		// An hour's backoff would time the test out if the wait ignored the context.
		{name: "cancelled during backoff", failures: 5, err: transient, backoff: time.Hour, cancelled: true, wantTries: 1, wantErr: "gave up: context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			if tc.cancelled {
				cancel()
			}
			defer cancel()
			a := &Activities{attempts: 3, backoff: tc.backoff}
			b := &flakyBackend{failures: tc.failures, err: tc.err}

			got := a.deliver(ctx, log.NewStructuredLogger(slog.New(slog.DiscardHandler)), b, Event{Kind: KindStarted})

			assert.Equal(t, tc.wantTries, b.tries)
			assert.True(t, got.attempted)
			if tc.wantErr == "" {
				assert.NoError(t, got.err)
				assert.Equal(t, SlackMessage{Channel: "C1", TS: "1.1"}, got.slack)
				return
			}
			assert.ErrorContains(t, got.err, tc.wantErr)
		})
	}
}
