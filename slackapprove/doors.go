package slackapprove

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// maxInteraction is the largest interaction request read: Slack's are a few kilobytes.
const maxInteraction = 1 << 20

// HTTPHandler takes Slack's interaction requests, each signed with the app's signing
// secret: a request that is unsigned, signed otherwise, older than 5 minutes or handled
// already is refused and changes nothing. A click is acknowledged at once (Slack waits
// 3 s) and answered in the message's thread once the gate has judged it; ctx bounds that
// work (the worker's lifetime).
func (b *Bridge) HTTPHandler(ctx context.Context, signingSecret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "Slack interactions are POSTed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInteraction))
		if err != nil {
			http.Error(w, "read interaction: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := verify(r.Header, body, signingSecret); err != nil {
			b.log.Warn("slack interaction refused", "err", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "interaction is not a form: "+err.Error(), http.StatusBadRequest)
			return
		}
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
			http.Error(w, "interaction payload is not Slack's JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		c, ok := ClickOf(cb)
		if !ok {
			w.WriteHeader(http.StatusOK) // not ours to answer
			return
		}
		if !b.take(c) {
			b.log.Warn("slack click refused: replayed", "slack_user", c.User, "run", c.Run)
			http.Error(w, ErrReplayed.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusOK)
		b.answerLater(ctx, c)
	})
}

// verify checks a request's signature and its timestamp (5 minutes at most, Slack's rule).
func verify(h http.Header, body []byte, secret string) error {
	sv, err := slack.NewSecretsVerifier(h, secret)
	switch {
	case errors.Is(err, slack.ErrExpiredTimestamp):
		return errors.New("refused: the request's timestamp is more than 5 minutes away from now (a replay, or a clock that is off)")
	case err != nil:
		return fmt.Errorf("refused: not a signed Slack request (%v)", err)
	}
	if _, err := sv.Write(body); err != nil {
		return fmt.Errorf("refused: %w", err)
	}
	if err := sv.Ensure(); err != nil {
		return errors.New("refused: the signature does not match this app's signing secret")
	}
	return nil
}

// RunSocketMode takes clicks over Socket Mode (the worker connects out to Slack; no public
// endpoint) until ctx ends. Socket Mode redelivers what is not acknowledged, so every
// event is acknowledged and a click seen before is not handled twice.
func (b *Bridge) RunSocketMode(ctx context.Context, sm *socketmode.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- sm.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			b.Wait()
			return nil
		case err := <-ended:
			b.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case ev := <-sm.Events:
			if ev.Type != socketmode.EventTypeInteractive {
				continue
			}
			if ev.Request != nil {
				if err := sm.AckCtx(ctx, ev.Request.EnvelopeID, nil); err != nil {
					b.log.Warn("slack socket mode: acknowledge", "err", err)
				}
			}
			cb, ok := ev.Data.(slack.InteractionCallback)
			if !ok {
				continue
			}
			c, ok := ClickOf(cb)
			if !ok {
				continue
			}
			if !b.take(c) {
				b.log.Warn("slack click refused: replayed", "slack_user", c.User, "run", c.Run)
				continue
			}
			b.answerLater(ctx, c)
		}
	}
}
