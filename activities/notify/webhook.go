package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// jsonWebhook POSTs every Event as JSON (the field names of Event's json tags) to a URL, for
// chat systems, ticketing and anything else that takes a webhook.
type jsonWebhook struct {
	url  string
	http *http.Client
}

func (w *jsonWebhook) name() string      { return "webhook" }
func (w *jsonWebhook) accepts(Kind) bool { return true }

func (w *jsonWebhook) deliver(ctx context.Context, ev Event) (SlackMessage, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return SlackMessage{}, permanent(fmt.Errorf("encode event: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return SlackMessage{}, permanent(fmt.Errorf("build webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rewind-notify")
	resp, err := w.http.Do(req)
	if err != nil {
		return SlackMessage{}, fmt.Errorf("post event to webhook: %w", err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; the body itself is not needed.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := fmt.Errorf("post event to webhook: status %s", resp.Status)
		if !retryableStatus(resp.StatusCode) {
			return SlackMessage{}, permanent(err)
		}
		return SlackMessage{}, err
	}
	return SlackMessage{}, nil
}

// retryableStatus says whether another attempt may get a different answer.
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}
