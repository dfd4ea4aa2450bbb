package slackapprove

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

const (
	botToken      = "xoxb-test-bot-token-never-shown"
	signingSecret = "test-signing-secret-never-shown"
	runKey        = "rewind-prod/run-1"
	backupLine    = "db_data_2.tar.gz 2222222222222222222222222222222222222222222222222222222222222222"
)

// fakeGate stands in for a rollback's gate over Temporal (the gate itself is tested in
// workflows): it checks the bridge's signature as the gate does, closes on the first
// decision it accepts, and refuses what the real gate refuses for these tests.
type fakeGate struct {
	t         *testing.T
	bridgeKey ssh.PublicKey
	mu        sync.Mutex
	progress  api.Progress
	requester string
	decisions []api.Decision
}

func (g *fakeGate) Progress(_ context.Context, workflowID, runID string) (api.Progress, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if workflowID+"/"+runID != runKey {
		return api.Progress{}, fmt.Errorf("workflow %s run %s not found", workflowID, runID)
	}
	return g.progress, nil
}

func (g *fakeGate) Decide(_ context.Context, workflowID, runID string, d api.Decision) (api.DecisionRecord, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.decisions = append(g.decisions, d)
	if g.progress.Gate == nil {
		return api.DecisionRecord{}, errors.New("rewind-prod is not waiting for a decision")
	}
	if d.Approver == g.requester {
		return api.DecisionRecord{}, fmt.Errorf("update failed: %w", fmt.Errorf("%s asked for this rollback and cannot approve it too", d.Approver))
	}
	action := identity.ActionApprove
	if !d.Approve {
		action = identity.ActionReject
	}
	want := identity.Statement{WorkflowID: workflowID, RunID: runID, Person: d.Approver, Action: action, Severity: g.progress.Gate.Severity, Backup: api.BackupDigest(g.progress.Gate.Backups)}
	if _, _, err := identity.Check(d.Signature, []byte(d.Statement), want, []ssh.PublicKey{g.bridgeKey}, time.Now()); err != nil {
		return api.DecisionRecord{}, err
	}
	verdict := "approved"
	if !d.Approve {
		verdict = "rejected"
	}
	rec := api.DecisionRecord{Approver: d.Approver, Approve: d.Approve, Accepted: true, Reason: verdict + " by " + d.Approver, Proof: d.Proof}
	g.progress.Decisions = append(g.progress.Decisions, rec)
	g.progress.Gate, g.progress.Phase = nil, "Stop the project"
	return rec, nil
}

func (g *fakeGate) sent() []api.Decision {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]api.Decision(nil), g.decisions...)
}

// threadReply is a message the bot posted in a thread of the stand-in Slack.
type threadReply struct{ Channel, TS, Text string }

// harness is a bridge on a policy written like an operator's, answering through slacktest
// (Slack's own test server) and taking signed HTTP interactions.
type harness struct {
	t      *testing.T
	gate   *fakeGate
	bridge *Bridge
	http   *httptest.Server
	logs   bytes.Buffer
	mu     sync.Mutex
	thread []threadReply
}

func newHarness(t *testing.T, severity string) *harness {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(key, "")
	require.NoError(t, err)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "slack_bridge")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))
	file := filepath.Join(dir, "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
policy: {slack_key: `+keyFile+`}
notify: {channel: C0INCIDENTS, slack: {bot_token_env: REWIND_TEST_SLACK_BOT, signing_secret_env: REWIND_TEST_SLACK_SECRET}}
stacks:
  prod:
    project: algotrendy_v26
    compose_files: [docker-compose.prod.yml]
    host: docker-1
    volumes: [{name: db_data, pattern: "backup0_*.tar.gz"}]
    backups: {dir: /backups}
approvers:
  - {name: alice, role: on-call, slack: U0ALICE}
  - {name: dave, role: on-call, slack: U0DAVE}
  - {name: bob, role: senior, slack: U0BOB}
  - {name: carol, role: tech-lead, slack: U0CAROL}
severity:
  levels:
    P1: {role: on-call, decision_time: 0s, hard_deadline: 0s}
    P2: {role: senior, decision_time: 15m, hard_deadline: 1h, proofs: [ssh, slack]}
    P3: {role: tech-lead, decision_time: 1h, hard_deadline: 4h, proofs: [ssh]}
`), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)

	h := &harness{t: t}
	slackSrv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			require.NoError(t, r.ParseForm())
			h.mu.Lock()
			h.thread = append(h.thread, threadReply{Channel: r.Form.Get("channel"), TS: r.Form.Get("thread_ts"), Text: r.Form.Get("text")})
			h.mu.Unlock()
			_, _ = w.Write([]byte(`{"ok": true, "channel": "C0INCIDENTS", "ts": "1700000001.000200"}`))
		})
	})
	slackSrv.Start()
	t.Cleanup(slackSrv.Stop)

	h.gate = &fakeGate{t: t, bridgeKey: signer.PublicKey(), requester: "alice", progress: api.Progress{
		Phase: "Approval", Gate: &api.Gate{Role: "senior", Severity: severity, Backups: []string{backupLine}, RunID: "run-1"},
	}}
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &h.logs, mu: &h.mu}, nil))
	h.bridge = New(cfg, h.gate, slack.New(botToken, slack.OptionAPIURL(slackSrv.GetAPIURL())), signer, log)
	ctx, cancel := context.WithCancel(context.Background())
	h.http = httptest.NewServer(h.bridge.HTTPHandler(ctx, signingSecret))
	t.Cleanup(func() {
		h.http.Close()
		cancel()
		h.bridge.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		assert.NotContains(t, h.logs.String(), botToken, "no token in the logs")
		assert.NotContains(t, h.logs.String(), signingSecret, "no signing secret in the logs")
	})
	return h
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// interaction is the form Slack posts when user presses action ("rewind_approve" or
// "rewind_reject") on the approval message, with reason typed in its field.
func interaction(trigger, user, action, reason string) string {
	payload := map[string]any{
		"type": "block_actions", "trigger_id": trigger, "api_app_id": "A0REWIND",
		"user":      map[string]any{"id": user},
		"channel":   map[string]any{"id": "C0INCIDENTS"},
		"container": map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0INCIDENTS"},
		"actions":   []map[string]any{{"type": "button", "action_id": action, "block_id": "rewind_decide", "value": runKey, "action_ts": "1700000100.000300"}},
		"state":     map[string]any{"values": map[string]any{"rewind_reason": map[string]any{"rewind_reason_input": map[string]any{"type": "plain_text_input", "value": reason}}}},
	}
	b, _ := json.Marshal(payload)
	return url.Values{"payload": {string(b)}}.Encode()
}

// post sends body signed with secret at time at, as Slack signs interaction requests.
func (h *harness) post(body, secret string, at time.Time) int {
	h.t.Helper()
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	req, err := http.NewRequest(http.MethodPost, h.http.URL, strings.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// click posts a click of user, signed now, and returns the bridge's answer in the thread.
func (h *harness) click(trigger, user, action, reason string) string {
	h.t.Helper()
	before := h.replies()
	require.Equal(h.t, http.StatusOK, h.post(interaction(trigger, user, action, reason), signingSecret, time.Now()))
	var answer threadReply
	require.EventuallyWithT(h.t, func(c *assert.CollectT) {
		got := h.replies()
		require.Greater(c, len(got), len(before))
		answer = got[len(before)]
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(h.t, "1700000000.000100", answer.TS, "answered in the approval message's thread")
	require.Equal(h.t, "C0INCIDENTS", answer.Channel)
	return answer.Text
}

func (h *harness) replies() []threadReply {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]threadReply(nil), h.thread...)
}

// TestAnApproversClickApproves: bob (senior, U0BOB) presses Approve on a P2 rollback: the
// gate gets his decision, signed by the bridge and proven slack:U0BOB, and he is told.
func TestAnApproversClickApproves(t *testing.T) {
	h := newHarness(t, "P2")
	answer := h.click("trigger-1", "U0BOB", "rewind_approve", "backup checked")

	require.Equal(t, "<@U0BOB>: approved by bob (proof: slack:U0BOB).", answer)
	sent := h.gate.sent()
	require.Len(t, sent, 1)
	require.Equal(t, "bob", sent[0].Approver)
	require.True(t, sent[0].Approve)
	require.Equal(t, "backup checked", sent[0].Reason)
	require.Equal(t, "slack:U0BOB", sent[0].Proof)
	st, err := identity.ParseStatement([]byte(sent[0].Statement))
	require.NoError(t, err)
	require.Equal(t, identity.Statement{WorkflowID: "rewind-prod", RunID: "run-1", Person: "bob", Action: identity.ActionApprove, Severity: "P2",
		Backup: strings.Repeat("2", 64), Expires: st.Expires}, st)
	require.WithinDuration(t, time.Now().Add(SignedFor), st.Expires, time.Minute, "short-lived")
}

// TestClicksWithoutAuthorityAreRefusedInTheThread: a stranger, an approver below the
// severity's role, the requester, a P3 whose proofs do not name slack, and a rejection
// without reason are each answered with why, and change nothing the gate would keep.
func TestClicksWithoutAuthorityAreRefusedInTheThread(t *testing.T) {
	for _, tc := range []struct {
		name, severity, user, action, reason string
		want                                 string
	}{
		{"a stranger", "P2", "U0EVE", "rewind_approve", "", "<@U0EVE> is not an approver in this worker's policy"},
		{"a too-junior approver", "P2", "U0DAVE", "rewind_approve", "", "<@U0DAVE> (dave) is on-call; a P2 rollback needs senior or above. Nothing was changed."},
		{"a severity that takes no Slack decisions", "P3", "U0CAROL", "rewind_approve", "", "P3 decisions are not taken from Slack here"},
		{"a rejection without reason", "P2", "U0BOB", "rewind_reject", "", "a rejection needs a reason for the incident record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.severity)
			answer := h.click("trigger-1", tc.user, tc.action, tc.reason)
			require.Contains(t, answer, tc.want)
			require.Contains(t, answer, "Nothing was changed.")
			require.Empty(t, h.gate.sent(), "no decision was sent")
		})
	}
}

// TestTheGatesRefusalIsRelayed: what the bridge cannot see (carol asked for this
// rollback) the gate refuses, and the thread is told its words.
func TestTheGatesRefusalIsRelayed(t *testing.T) {
	h := newHarness(t, "P2")
	h.gate.requester = "carol"
	answer := h.click("trigger-1", "U0CAROL", "rewind_approve", "")
	require.Equal(t, "<@U0CAROL>: rewind-prod refused the decision: carol asked for this rollback and cannot approve it too. Nothing was changed.", answer)
	require.Len(t, h.gate.sent(), 1, "the gate judged it")
	p, err := h.gate.Progress(context.Background(), "rewind-prod", "run-1")
	require.NoError(t, err)
	require.NotNil(t, p.Gate, "the gate still waits")
}

// TestReplayedStaleAndForgedInteractionsAreRefused: the same interaction twice, one signed
// six minutes ago, and one signed with another secret are refused; only the first counts.
func TestReplayedStaleAndForgedInteractionsAreRefused(t *testing.T) {
	h := newHarness(t, "P2")
	h.click("trigger-1", "U0BOB", "rewind_approve", "")

	replay := interaction("trigger-1", "U0BOB", "rewind_approve", "")
	require.Equal(t, http.StatusConflict, h.post(replay, signingSecret, time.Now()), "a replay of a handled interaction")
	require.Equal(t, http.StatusUnauthorized, h.post(interaction("trigger-2", "U0CAROL", "rewind_reject", "no"), signingSecret, time.Now().Add(-6*time.Minute)), "stale")
	require.Equal(t, http.StatusUnauthorized, h.post(interaction("trigger-3", "U0CAROL", "rewind_reject", "no"), "another-secret", time.Now()), "forged")
	h.bridge.Wait()
	require.Len(t, h.gate.sent(), 1)
	require.Len(t, h.replies(), 1, "refused requests are answered to the sender, not in the thread")
}

// TestAClickAfterTheDecisionChangesNothing: once bob approved, carol's Reject is told who
// decided and what, and sends nothing to the gate.
func TestAClickAfterTheDecisionChangesNothing(t *testing.T) {
	h := newHarness(t, "P2")
	h.click("trigger-1", "U0BOB", "rewind_approve", "")
	answer := h.click("trigger-2", "U0CAROL", "rewind_reject", "wrong backup")

	require.Equal(t, "<@U0CAROL>: rewind-prod was already decided: approved by bob (proof: slack:U0BOB). Your click changes nothing.", answer)
	require.Len(t, h.gate.sent(), 1)
}

// TestARejectionWithAReasonCounts: carol rejects with a reason from the message's field.
func TestARejectionWithAReasonCounts(t *testing.T) {
	h := newHarness(t, "P2")
	answer := h.click("trigger-1", "U0CAROL", "rewind_reject", "wrong backup")
	require.Equal(t, "<@U0CAROL>: rejected by carol (proof: slack:U0CAROL).", answer)
	sent := h.gate.sent()
	require.Len(t, sent, 1)
	require.False(t, sent[0].Approve)
	require.Equal(t, "wrong backup", sent[0].Reason)
}
