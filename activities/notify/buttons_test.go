package notify_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/notify"
)

// actionIDs are the action_id of every element of a Block Kit document, in order.
func actionIDs(t *testing.T, blocksJSON string) []string {
	t.Helper()
	var blocks []map[string]any
	require.NoError(t, json.Unmarshal([]byte(blocksJSON), &blocks))
	var ids []string
	for _, b := range blocks {
		if el, ok := b["element"].(map[string]any); ok {
			ids = append(ids, el["action_id"].(string))
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			if id, ok := e.(map[string]any)["action_id"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// TestAnApprovalMessageCarriesButtonsUntilDecided: with buttons on, the approval request
// carries the reason field and Approve/Reject buttons naming the run, with the deadline;
// the decision (from the CLI here) updates the same message in place, without buttons,
// naming who decided and by what proof.
func TestAnApprovalMessageCarriesButtonsUntilDecided(t *testing.T) {
	api := newSlackAPIStandIn(t)
	acts, err := notify.New(notify.Config{Slack: notify.SlackConfig{BotToken: "xoxb-SECRET", Channel: "#incidents", APIURL: api.URL + "/", Buttons: true}})
	require.NoError(t, err)
	env, logs := activityEnv(t, acts)
	ev := notify.Event{Kind: notify.KindApprovalNeeded, RunKey: "rewind-prod/run-1", WorkflowID: "rewind-prod", Stack: "prod", Option: "full", Severity: "P2",
		Requester: "alice", Backup: "db_data_2.tar.gz", BackupSHA256: "2222222222222222222222222222222222222222222222222222222222222222",
		ApproverRole: "senior", Approvers: []string{"bob", "carol"}, Deadline: time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)}

	first := runNotify(t, env, ev)
	calls := api.since(0)
	require.Len(t, calls, 1)
	require.Equal(t, "chat.postMessage", calls[0].Method)
	require.Equal(t, []string{notify.SlackReasonInput, notify.SlackApproveAction, notify.SlackRejectAction}, actionIDs(t, calls[0].Blocks))
	require.Contains(t, calls[0].Blocks, `"value":"rewind-prod/run-1"`)
	text := blockText(t, []byte(calls[0].Blocks))
	for _, want := range []string{"prod", "P2", "db_data_2.tar.gz", "sha256 `22222222", "senior: bob, carol", "*Decide by:* <!date^1796270400^"} {
		require.Contains(t, text, want)
	}

	ev.Kind, ev.SlackMessage = notify.KindDecided, first.SlackMessage
	ev.Decision = notify.Decision{By: "carol", Verdict: notify.VerdictApproved, Note: "approved by carol (tech-lead)", Proof: "ssh:SHA256:abc"}
	runNotify(t, env, ev)
	calls = api.since(1)
	require.Len(t, calls, 1)
	require.Equal(t, "chat.update", calls[0].Method)
	require.Equal(t, first.SlackMessage.TS, calls[0].TS, "the request's message, in place")
	require.Empty(t, actionIDs(t, calls[0].Blocks), "no buttons left to click")
	require.Contains(t, blockText(t, []byte(calls[0].Blocks)), "*Proven by:* `ssh:SHA256:abc`")
	require.NotContains(t, logs.String(), "xoxb-SECRET")
}

// TestNoButtonsWithoutAWayIn: when the worker takes no clicks, the message has none.
func TestNoButtonsWithoutAWayIn(t *testing.T) {
	api := newSlackAPIStandIn(t)
	acts, err := notify.New(notify.Config{Slack: notify.SlackConfig{BotToken: "xoxb-SECRET", Channel: "#incidents", APIURL: api.URL + "/"}})
	require.NoError(t, err)
	env, _ := activityEnv(t, acts)
	runNotify(t, env, notify.Event{Kind: notify.KindApprovalNeeded, RunKey: "rewind-prod/run-1", WorkflowID: "rewind-prod", Stack: "prod", Severity: "P2"})
	require.Empty(t, actionIDs(t, api.since(0)[0].Blocks))
}
