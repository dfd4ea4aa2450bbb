package notify_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/notify"
)

const (
	botToken   = "xoxb-test-token"
	routingKey = "R0UTINGKEY00000000000000000000"
	uiLink     = "http://localhost:8233/namespaces/default/workflows/rewind-trading-api/run-1/history"
)

// TestNotifyP2FullRollback follows the events of a P2 full rollback whose approver was slow
// (started, approval-needed, escalated, decided, finished) through every backend: one
// Slack message updated in place, one PagerDuty incident, the JSON webhook, and a Slack
// incoming webhook configured on a second worker.
func TestNotifyP2FullRollback(t *testing.T) {
	slackAPI := newSlackAPIStandIn(t)
	slackHook := newStandIn(t, http.StatusOK, "text/plain", "ok")                                                    // Slack incoming webhook
	pd := newStandIn(t, http.StatusAccepted, "application/json", `{"status":"success","message":"Event processed"}`) // PagerDuty events endpoint
	hook := newStandIn(t, http.StatusOK, "", "")                                                                     // JSON webhook

	bot, err := notify.New(notify.Config{
		Slack:     notify.SlackConfig{BotToken: botToken, Channel: "#incidents", APIURL: slackAPI.URL + "/api"},
		PagerDuty: notify.PagerDutyConfig{RoutingKey: routingKey, Endpoint: pd.URL},
		Webhook:   notify.WebhookConfig{URL: hook.URL + "/rewind/events"},
	})
	require.NoError(t, err)
	viaHook, err := notify.New(notify.Config{Slack: notify.SlackConfig{WebhookURL: slackHook.URL + "/services/T000/B000/XXXX"}})
	require.NoError(t, err)
	botEnv, _ := activityEnv(t, bot)
	hookEnv, _ := activityEnv(t, viaHook)

	const command = "rewind approve rewind-trading-api --as NAME"
	ev := notify.Event{
		RunKey: "rewind-trading-api/run-1", WorkflowID: "rewind-trading-api",
		Stack: "trading-api", Option: "full", Severity: "P2",
		Requester: "carol", Reason: "5xx after deploy of 4.2.0",
		Backup: "trading-api-20250601T0300.tar.gz", BackupSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ApproverRole: "oncall-lead", Approvers: []string{"alice", "bob"}, UILink: uiLink,
	}
	steps := []struct {
		kind     notify.Kind
		change   func(*notify.Event)
		wantAPI  []string // Slack Web API methods called, in order
		wantText []string // in the Slack blocks
		wantNot  []string // not in the Slack blocks
		wantPD   string   // PagerDuty action; "" sends nothing
	}{
		{
			kind:     notify.KindStarted,
			wantAPI:  []string{"chat.postMessage"},
			wantText: []string{"P2 rollback of trading-api (full) started", "carol", "5xx after deploy of 4.2.0", "trading-api-20250601T0300.tar.gz", "9f86d081884c", uiLink},
			wantNot:  []string{"rewind approve"},
		},
		{
			kind:     notify.KindApprovalNeeded,
			wantAPI:  []string{"chat.update", "chat.postMessage"},
			wantText: []string{"waiting for approval", command, "oncall-lead: alice, bob", uiLink},
		},
		{
			kind:     notify.KindEscalated,
			wantAPI:  []string{"chat.update", "chat.postMessage"},
			wantText: []string{"escalated", command, "oncall-lead: alice, bob", uiLink},
			wantPD:   "trigger",
		},
		{
			kind:     notify.KindDecided,
			change:   func(ev *notify.Event) { ev.Decision = notify.Decision{By: "alice", Verdict: notify.VerdictApproved} },
			wantAPI:  []string{"chat.update"},
			wantText: []string{"approved by alice", uiLink},
			wantNot:  []string{"rewind approve"},
			wantPD:   "acknowledge",
		},
		{
			kind:     notify.KindFinished,
			change:   func(ev *notify.Event) { ev.Outcome = "completed: trading-api is back on 4.1.3" },
			wantAPI:  []string{"chat.update"},
			wantText: []string{"finished", "approved by alice", "completed: trading-api is back on 4.1.3", uiLink},
			wantNot:  []string{"rewind approve"},
			wantPD:   "resolve",
		},
	}

	var first notify.SlackMessage // the message every later event updates
	var pdActions []string
	for _, step := range steps {
		t.Run(string(step.kind), func(t *testing.T) {
			ev.Kind = step.kind
			if step.change != nil {
				step.change(&ev)
			}
			apiBefore, hookBefore, pdBefore, slackHookBefore := slackAPI.count(), hook.count(), pd.count(), slackHook.count()

			res := runNotify(t, botEnv, ev)
			hookRes := runNotify(t, hookEnv, ev)

			wantDelivered := []string{"worker log", "slack", "webhook"}
			if step.wantPD != "" {
				wantDelivered = append(wantDelivered, "pagerduty")
			}
			assert.ElementsMatch(t, wantDelivered, res.Delivered)
			assert.Empty(t, res.Failed)
			assert.Equal(t, []string{"worker log", "slack"}, hookRes.Delivered)
			assert.Empty(t, hookRes.Failed)
			assert.Equal(t, ev.SlackMessage, hookRes.SlackMessage, "an incoming webhook posts anew and passes the reference on")

			// Slack Web API: one message, posted once, then updated in place.
			calls := slackAPI.since(apiBefore)
			methods := make([]string, len(calls))
			for i, c := range calls {
				methods[i] = c.Method
				assert.Equal(t, botToken, c.Token)
			}
			require.Equal(t, step.wantAPI, methods)
			message := calls[0]
			if step.kind == notify.KindStarted {
				assert.Equal(t, "#incidents", message.Channel)
				first = notify.SlackMessage{Channel: slackChannelID, TS: "1700000000.000001"}
			} else {
				assert.Equal(t, first.Channel, message.Channel, "chat.update of the first message's channel")
				assert.Equal(t, first.TS, message.TS, "chat.update of the first message's ts")
			}
			assert.Equal(t, first, res.SlackMessage)
			text := blockText(t, []byte(message.Blocks))
			for _, want := range step.wantText {
				assert.Contains(t, text, want)
			}
			for _, not := range step.wantNot {
				assert.NotContains(t, text, not)
			}
			if len(calls) > 1 {
				reply := calls[1]
				assert.Equal(t, first.TS, reply.ThreadTS, "attention reply goes in the message's thread")
				assert.True(t, reply.Broadcast, "and to the channel, since an edit notifies nobody")
				assert.Contains(t, reply.Text, command)
			}

			// Slack incoming webhook: a new message per event with the same blocks.
			hookPosts := slackHook.since(slackHookBefore)
			require.Len(t, hookPosts, 1)
			assert.Equal(t, "/services/T000/B000/XXXX", hookPosts[0].Path)
			var posted struct {
				Text    string          `json:"text"`
				Channel *string         `json:"channel"`
				Blocks  json.RawMessage `json:"blocks"`
			}
			require.NoError(t, json.Unmarshal(hookPosts[0].Body, &posted))
			assert.Nil(t, posted.Channel, "incoming webhooks ignore channel; none is sent")
			hookText := blockText(t, posted.Blocks)
			for _, want := range step.wantText {
				assert.Contains(t, hookText, want)
			}

			// PagerDuty: only failures, escalations, decisions and the end.
			pdEvents := pd.since(pdBefore)
			if step.wantPD == "" {
				assert.Empty(t, pdEvents)
			} else {
				require.Len(t, pdEvents, 1)
				assert.Equal(t, "/v2/enqueue", pdEvents[0].Path)
				var sent pagerduty.V2Event
				require.NoError(t, json.Unmarshal(pdEvents[0].Body, &sent))
				assert.Equal(t, step.wantPD, sent.Action)
				assert.Equal(t, ev.RunKey, sent.DedupKey)
				assert.Equal(t, routingKey, sent.RoutingKey)
				pdActions = append(pdActions, sent.Action+" "+sent.DedupKey)
				if sent.Action == "trigger" {
					require.NotNil(t, sent.Payload)
					assert.Equal(t, "error", sent.Payload.Severity, "P2 maps to error")
					assert.Equal(t, "trading-api", sent.Payload.Source)
					assert.Contains(t, sent.Payload.Summary, command)
					assert.Equal(t, uiLink, sent.ClientURL)
				}
			}

			// JSON webhook: the event itself, with the command filled in where approval waits.
			webhookPosts := hook.since(hookBefore)
			require.Len(t, webhookPosts, 1)
			assert.Equal(t, "/rewind/events", webhookPosts[0].Path)
			var got notify.Event
			require.NoError(t, json.Unmarshal(webhookPosts[0].Body, &got))
			want := ev
			if step.kind == notify.KindApprovalNeeded || step.kind == notify.KindEscalated {
				want.ApproveCommand = command
			}
			assert.Equal(t, want, got)
			var fields map[string]any
			require.NoError(t, json.Unmarshal(webhookPosts[0].Body, &fields))
			assert.Equal(t, string(step.kind), fields["kind"], "documented field names")
			assert.Equal(t, ev.RunKey, fields["run_key"])

			ev.SlackMessage = res.SlackMessage
		})
	}
	assert.Equal(t, []string{
		"trigger rewind-trading-api/run-1", "acknowledge rewind-trading-api/run-1", "resolve rewind-trading-api/run-1",
	}, pdActions, "one incident per run: triggered, acknowledged and resolved under one dedup key")
}

// TestPagerDutySeverity checks the mapping of rollback severity to PagerDuty's.
func TestPagerDutySeverity(t *testing.T) {
	pd := newStandIn(t, http.StatusAccepted, "application/json", `{"status":"success"}`) // PagerDuty events endpoint
	acts, err := notify.New(notify.Config{PagerDuty: notify.PagerDutyConfig{RoutingKey: routingKey, Endpoint: pd.URL}})
	require.NoError(t, err)
	env, _ := activityEnv(t, acts)

	for _, tc := range []struct {
		kind     notify.Kind
		severity string
		want     string
	}{
		{notify.KindFailed, "P1", "critical"},
		{notify.KindFailed, "P2", "error"},
		{notify.KindFailed, "P3", "warning"},
		{notify.KindEscalated, "P3", "warning"},
		{notify.KindFailed, "", "critical"},
		{notify.KindEmergencyStop, "P3", "critical"},
	} {
		t.Run(string(tc.kind)+"/"+tc.severity, func(t *testing.T) {
			before := pd.count()
			res := runNotify(t, env, notify.Event{Kind: tc.kind, RunKey: "rewind-db/run-7", Stack: "db", Severity: tc.severity})
			assert.Contains(t, res.Delivered, "pagerduty")
			sent := pd.since(before)
			require.Len(t, sent, 1)
			var event pagerduty.V2Event
			require.NoError(t, json.Unmarshal(sent[0].Body, &event))
			assert.Equal(t, "trigger", event.Action)
			require.NotNil(t, event.Payload)
			assert.Equal(t, tc.want, event.Payload.Severity)
		})
	}
}

// TestSend keeps the activity older rollbacks in flight schedule by name working, through
// the new backends.
func TestSend(t *testing.T) {
	slackHook := newStandIn(t, http.StatusOK, "text/plain", "ok")                        // Slack incoming webhook
	pd := newStandIn(t, http.StatusAccepted, "application/json", `{"status":"success"}`) // PagerDuty events endpoint
	hook := newStandIn(t, http.StatusOK, "", "")                                         // JSON webhook
	acts, err := notify.New(notify.Config{
		Slack:     notify.SlackConfig{WebhookURL: slackHook.URL + "/services/T000/B000/XXXX"},
		PagerDuty: notify.PagerDutyConfig{RoutingKey: routingKey, Endpoint: pd.URL},
		Webhook:   notify.WebhookConfig{URL: hook.URL},
		Backoff:   time.Millisecond,
	})
	require.NoError(t, err)
	env, logs := activityEnv(t, acts)

	val, err := env.ExecuteActivity("Send", notify.Message{Subject: "EMERGENCY STOP of trading-api", Text: "stack offline — investigate before restart"})
	require.NoError(t, err)
	var res notify.Result
	require.NoError(t, val.Get(&res))

	assert.Equal(t, []string{"worker log", "slack", "webhook"}, res.Delivered)
	assert.Empty(t, res.Failed)
	assert.Zero(t, pd.count(), "a notice does not page")
	require.Equal(t, 1, slackHook.count())
	var posted struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(slackHook.since(0)[0].Body, &posted))
	assert.Contains(t, blockText(t, posted.Blocks), "EMERGENCY STOP of trading-api")
	assert.Contains(t, blockText(t, posted.Blocks), "stack offline — investigate before restart")
	require.Equal(t, 1, hook.count())
	var got notify.Event
	require.NoError(t, json.Unmarshal(hook.since(0)[0].Body, &got))
	assert.Equal(t, notify.KindNotice, got.Kind)
	assert.Equal(t, "EMERGENCY STOP of trading-api", got.Subject)
	assert.Equal(t, "stack offline — investigate before restart", got.Detail)
	assert.NotEmpty(t, got.RunKey, "the calling workflow's run")
	assert.Contains(t, logs.String(), "EMERGENCY STOP of trading-api")
}
