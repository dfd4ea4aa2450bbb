package notify_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/notify"
)

// TestNew checks that New accepts what makes sense and names the field of every mistake,
// without echoing a secret.
func TestNew(t *testing.T) {
	const hookURL = "https://hooks.slack.com/services/T000/B000/SECRET"
	for _, tc := range []struct {
		name    string
		cfg     notify.Config
		wantErr []string // each in the error; none means valid
	}{
		{name: "nothing configured logs only", cfg: notify.Config{}},
		{name: "slack webhook", cfg: notify.Config{Slack: notify.SlackConfig{WebhookURL: hookURL}}},
		{name: "slack bot, pagerduty and webhook", cfg: notify.Config{
			Slack:     notify.SlackConfig{BotToken: "xoxb-SECRET", Channel: "#incidents"},
			PagerDuty: notify.PagerDutyConfig{RoutingKey: "SECRETKEY", Endpoint: "https://events.eu.pagerduty.com"},
			Webhook:   notify.WebhookConfig{URL: "https://chat.example.com/hooks/SECRET"},
			Attempts:  5, Backoff: time.Second,
		}},
		{
			name:    "webhook and bot token",
			cfg:     notify.Config{Slack: notify.SlackConfig{WebhookURL: hookURL, BotToken: "xoxb-SECRET", Channel: "#incidents"}},
			wantErr: []string{"Slack.WebhookURL and Slack.BotToken are both set"},
		},
		{
			name:    "channel with an incoming webhook",
			cfg:     notify.Config{Slack: notify.SlackConfig{WebhookURL: hookURL, Channel: "#incidents"}},
			wantErr: []string{"Slack.Channel is set with Slack.WebhookURL"},
		},
		{
			name:    "bot token without channel",
			cfg:     notify.Config{Slack: notify.SlackConfig{BotToken: "xoxb-SECRET"}},
			wantErr: []string{"Slack.Channel is empty"},
		},
		{
			name:    "channel alone",
			cfg:     notify.Config{Slack: notify.SlackConfig{Channel: "#incidents"}},
			wantErr: []string{"Slack.Channel is set without Slack.BotToken"},
		},
		{
			name:    "webhook URL without scheme",
			cfg:     notify.Config{Slack: notify.SlackConfig{WebhookURL: "hooks.slack.com/services/T000/B000/SECRET"}},
			wantErr: []string{"Slack.WebhookURL is not an absolute http(s) URL"},
		},
		{
			name:    "token with the secret file's newline",
			cfg:     notify.Config{Slack: notify.SlackConfig{BotToken: "xoxb-SECRET\n", Channel: "#incidents"}},
			wantErr: []string{"Slack.BotToken has leading or trailing whitespace"},
		},
		{
			name:    "pagerduty endpoint without routing key",
			cfg:     notify.Config{PagerDuty: notify.PagerDutyConfig{Endpoint: "https://events.pagerduty.com"}},
			wantErr: []string{"PagerDuty.Endpoint is set without PagerDuty.RoutingKey"},
		},
		{
			name:    "webhook that is not http",
			cfg:     notify.Config{Webhook: notify.WebhookConfig{URL: "ftp://example.com/SECRET"}},
			wantErr: []string{"Webhook.URL is not an absolute http(s) URL"},
		},
		{
			name:    "every mistake at once",
			cfg:     notify.Config{Attempts: -1, Backoff: -time.Second, PagerDuty: notify.PagerDutyConfig{RoutingKey: " SECRET"}},
			wantErr: []string{"Attempts is -1", "Backoff is -1s", "PagerDuty.RoutingKey has leading or trailing whitespace"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acts, err := notify.New(tc.cfg)
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				assert.NotNil(t, acts)
				return
			}
			require.Error(t, err)
			for _, want := range tc.wantErr {
				assert.ErrorContains(t, err, want)
			}
			assert.NotContains(t, err.Error(), "SECRET")
		})
	}
}

// TestConfigPrintsNoSecret keeps a logged Config (or a config that embeds it) from leaking.
func TestConfigPrintsNoSecret(t *testing.T) {
	cfg := notify.Config{
		Slack:     notify.SlackConfig{WebhookURL: "https://hooks.slack.com/services/T000/B000/SECRET"},
		PagerDuty: notify.PagerDutyConfig{RoutingKey: "SECRETKEY"},
		Webhook:   notify.WebhookConfig{URL: "https://chat.example.com/hooks/SECRET"},
	}
	embedded := struct{ Notify notify.Config }{cfg}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(format, cfg), "SECRET", format)
		assert.NotContains(t, fmt.Sprintf(format, embedded), "SECRET", format+" embedded")
	}
	assert.Contains(t, cfg.String(), "WebhookURL:[set]")
}
