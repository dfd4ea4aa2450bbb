// Package notify tells people about a rollback: a JSON POST to a webhook (Slack-compatible
// `text` field) when one is configured, and the worker's log always.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"go.temporal.io/sdk/activity"
)

// Activities send notices.
type Activities struct {
	WebhookURL string
	Channel    string
	HTTP       *http.Client
}

// Message is one notice.
type Message struct {
	Subject string
	Text    string
}

// Result says where the notice went.
type Result struct {
	Delivered []string
}

// Send posts the notice to the webhook and logs it. A webhook that refuses is retried.
func (a *Activities) Send(ctx context.Context, m Message) (Result, error) {
	activity.GetLogger(ctx).Info("notice", "channel", a.Channel, "subject", m.Subject, "text", m.Text)
	res := Result{Delivered: []string{"worker log"}}
	if a.WebhookURL == "" {
		return res, nil
	}
	body, err := json.Marshal(map[string]string{"channel": a.Channel, "text": m.Subject + "\n" + m.Text})
	if err != nil {
		return Result{}, fmt.Errorf("encode notice: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := a.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("post notice to webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return Result{}, fmt.Errorf("post notice to webhook: status %s", resp.Status)
	}
	return Result{Delivered: append(res.Delivered, "webhook")}, nil
}
