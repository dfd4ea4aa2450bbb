package notify_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/notify"
)

// unreachable refuses connections at once: nothing listens on port 1.
const unreachable = "http://127.0.0.1:1"

// TestNotifyUndeliverable checks that a backend that is down or refuses never fails the
// rollback, is retried only when another attempt may help, and leaves no secret (all
// spelled SECRET here) in the result or the log.
func TestNotifyUndeliverable(t *testing.T) {
	const attempts = 3
	for _, tc := range []struct {
		name string
		// status, content type and body of the stand-in's answers; status 0 points the
		// backend at unreachable instead.
		status      int
		contentType string
		body        string
		config      func(base string) notify.Config
		backend     string
		wantTries   int
	}{
		{
			name:    "slack webhook unreachable",
			config:  slackWebhookConfig,
			backend: "slack",
		},
		{
			name: "slack webhook answers 500", status: http.StatusInternalServerError, body: "oops",
			config: slackWebhookConfig, backend: "slack", wantTries: attempts,
		},
		{
			name: "slack webhook refuses with 404 no_service", status: http.StatusNotFound, body: "no_service",
			config: slackWebhookConfig, backend: "slack", wantTries: 1,
		},
		{
			name:    "slack api unreachable",
			config:  slackBotConfig,
			backend: "slack",
		},
		{
			name: "slack api answers 500", status: http.StatusInternalServerError,
			config: slackBotConfig, backend: "slack", wantTries: attempts,
		},
		{
			name: "slack api refuses the token", status: http.StatusOK, contentType: "application/json",
			body:   `{"ok":false,"error":"invalid_auth"}`,
			config: slackBotConfig, backend: "slack", wantTries: 1,
		},
		{
			name:    "pagerduty unreachable",
			config:  pagerDutyConfig,
			backend: "pagerduty",
		},
		{
			name: "pagerduty answers 500", status: http.StatusInternalServerError,
			config: pagerDutyConfig, backend: "pagerduty", wantTries: attempts,
		},
		{
			name: "pagerduty refuses and echoes the routing key", status: http.StatusBadRequest, contentType: "application/json",
			body:   `{"status":"invalid event","message":"Event object is invalid","errors":["routing_key R0UTING-SECRET-KEY is invalid"]}`,
			config: pagerDutyConfig, backend: "pagerduty", wantTries: 1,
		},
		{
			name:    "webhook unreachable",
			config:  webhookConfig,
			backend: "webhook",
		},
		{
			name: "webhook answers 500", status: http.StatusInternalServerError,
			config: webhookConfig, backend: "webhook", wantTries: attempts,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, server := unreachable, (*standIn)(nil)
			if tc.status != 0 {
				server = newStandIn(t, tc.status, tc.contentType, tc.body)
				base = server.URL
			}
			cfg := tc.config(base)
			cfg.Attempts, cfg.Backoff = attempts, time.Millisecond
			acts, err := notify.New(cfg)
			require.NoError(t, err)
			env, logs := activityEnv(t, acts)

			res := runNotify(t, env, notify.Event{
				Kind: notify.KindFailed, RunKey: "rewind-trading-api/run-9", Stack: "trading-api", Severity: "P1",
				Detail: "health check failed; volumes put back from trading-api-20250601T0300.tar.gz",
			})

			assert.Equal(t, []string{"worker log"}, res.Delivered)
			require.Len(t, res.Failed, 1)
			assert.True(t, strings.HasPrefix(res.Failed[0], tc.backend+": "), "Failed names the backend: %q", res.Failed[0])
			assert.NotContains(t, fmt.Sprintf("%#v", res), "SECRET")
			assert.NotContains(t, logs.String(), "SECRET")
			assert.Contains(t, logs.String(), "notification not delivered")
			if server != nil {
				assert.Equal(t, tc.wantTries, server.count(), "attempts")
			}
			t.Log(res.Failed[0])
		})
	}
}

func slackWebhookConfig(base string) notify.Config {
	return notify.Config{Slack: notify.SlackConfig{WebhookURL: base + "/services/T000/B000/SECRET"}}
}

func slackBotConfig(base string) notify.Config {
	return notify.Config{Slack: notify.SlackConfig{BotToken: "xoxb-SECRET-token", Channel: "#incidents", APIURL: base + "/api/"}}
}

func pagerDutyConfig(base string) notify.Config {
	return notify.Config{PagerDuty: notify.PagerDutyConfig{RoutingKey: "R0UTING-SECRET-KEY", Endpoint: base}}
}

func webhookConfig(base string) notify.Config {
	return notify.Config{Webhook: notify.WebhookConfig{URL: base + "/hooks/SECRET?token=SECRET"}}
}
