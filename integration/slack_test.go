package integration

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

const (
	slackBotToken = "xoxb-itest-bot-token-kept-secret"
	slackSecret   = "itest-signing-secret-kept-secret"
)

// slackCall is one Web API call the worker made to the stand-in Slack.
type slackCall struct{ Method, TS, ThreadTS, Text, Blocks string }

// slackRecorder is slacktest's server answering chat.postMessage and chat.update as Slack
// does, keeping every call.
type slackRecorder struct {
	*slacktest.Server
	mu    sync.Mutex
	calls []slackCall
}

func newSlackRecorder(t *testing.T) *slackRecorder {
	s := &slackRecorder{}
	record := func(method string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			call := slackCall{Method: method, TS: r.Form.Get("ts"), ThreadTS: r.Form.Get("thread_ts"), Text: r.Form.Get("text"), Blocks: r.Form.Get("blocks")}
			s.mu.Lock()
			s.calls = append(s.calls, call)
			n := len(s.calls)
			s.mu.Unlock()
			ts := cmp.Or(call.TS, fmt.Sprintf("1700000000.%06d", n))
			_, _ = fmt.Fprintf(w, `{"ok": true, "channel": "C0INCIDENTS", "ts": %q}`, ts)
		}
	}
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", record("chat.postMessage"))
		c.Handle("/chat.update", record("chat.update"))
	})
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (s *slackRecorder) all() []slackCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slackCall(nil), s.calls...)
}

// threadAnswer waits for the bot's next answer in the thread of ts after the first n calls.
func (s *slackRecorder) threadAnswer(t *testing.T, ts string, n int) string {
	t.Helper()
	var text string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, call := range s.all()[n:] {
			if call.Method == "chat.postMessage" && call.ThreadTS == ts && strings.HasPrefix(call.Text, "<@") {
				text = call.Text
				return
			}
		}
		assert.Fail(c, "no answer in the thread yet")
	}, time.Minute, 50*time.Millisecond)
	return text
}

// clickFrom posts what Slack posts when user presses action on the approval message whose
// button names run, signed with the app's signing secret.
func clickFrom(t *testing.T, endpoint, trigger, user, action, run, messageTS string) int {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"type": "block_actions", "trigger_id": trigger, "user": map[string]any{"id": user},
		"channel":   map[string]any{"id": "C0INCIDENTS"},
		"container": map[string]any{"type": "message", "message_ts": messageTS, "channel_id": "C0INCIDENTS"},
		"actions":   []map[string]any{{"type": "button", "action_id": action, "block_id": "rewind_decide", "value": run, "action_ts": "1700000100.000300"}},
	})
	require.NoError(t, err)
	body := url.Values{"payload": {string(payload)}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(slackSecret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestApprovingFromSlackOnTheRealWorker: the real worker, on real Temporal and Docker,
// posts the P2 approval request with buttons; a too-junior approver's click is answered in
// the thread and changes nothing; a Temporal client claiming a Slack click without the
// bridge's key is refused; dana's click approves (she has an SSH key, and the worker's
// admission of the run takes the bridge's signature for her click), the rollback completes, the message is
// updated in place and the report names the proof; a click after that changes nothing.
// No token is in the worker's log or the run's history.
func TestApprovingFromSlackOnTheRealWorker(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	slackAPI := newSlackRecorder(t)
	bridgeKey, _ := sshKey(t, "slack-bridge")
	forger, _ := sshKey(t, "forger")
	// dana has an SSH key: her click counts because P2's proofs name slack, and the worker's
	// admission must take the bridge's signature for it, not look for hers.
	_, danaKey := sshKey(t, "dana")
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second,
		approvers: []string{fmt.Sprintf("{name: dana, role: senior, slack: U0DANA, keys: [%q]}", danaKey), "{name: eve, role: on-call, slack: U0EVE}"},
		config: fmt.Sprintf(`policy: {slack_key: %q}
notify: {channel: C0INCIDENTS, slack: {bot_token_env: REWIND_TEST_SLACK_BOT, signing_secret_env: REWIND_TEST_SLACK_SECRET, interactions_listen: %q, api_url: %q}}
severity:
  levels:
    P1: {role: on-call, decision_time: 0s, hard_deadline: 0s}
    P2: {role: senior, decision_time: 15m, hard_deadline: 1h, proofs: [ssh, slack]}
    P3: {role: tech-lead, decision_time: 1h, hard_deadline: 4h}
`, bridgeKey, listen, slackAPI.GetAPIURL())})
	e.up()
	e.goodBackup()
	w := e.startWorker("REWIND_TEST_SLACK_BOT="+slackBotToken, "REWIND_TEST_SLACK_SECRET="+slackSecret)
	endpoint := "http://" + listen + "/slack/interactions"
	id := api.WorkflowID(e.stack)

	code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "corrupt market data", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	e.awaitApprovalGate(id)

	// The request: the rollback's message, posted (its ts numbered by the stand-in) or
	// updated (its ts given), now with buttons.
	var request slackCall
	var requestTS string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for i, call := range slackAPI.all() {
			if strings.Contains(call.Blocks, `"action_id":"rewind_approve"`) {
				request, requestTS = call, cmp.Or(call.TS, fmt.Sprintf("1700000000.%06d", i+1))
				return
			}
		}
		assert.Fail(c, "no approval request with buttons yet")
	}, time.Minute, 50*time.Millisecond)
	run := regexp.MustCompile(`"value":"(rewind-[^"]+)"`).FindStringSubmatch(request.Blocks)
	require.NotNil(t, run, request.Blocks)

	n := len(slackAPI.all())
	require.Equal(t, http.StatusOK, clickFrom(t, endpoint, "trigger-eve", "U0EVE", "rewind_approve", run[1], requestTS))
	require.Contains(t, slackAPI.threadAnswer(t, requestTS, n), "<@U0EVE> (eve) is on-call; a P2 rollback needs senior or above. Nothing was changed.")

	// A Temporal client that claims dana's click, signed with a key that is not the bridge's.
	desc, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	require.NoError(t, err)
	runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	var progress api.Progress
	q, err := c.QueryWorkflow(context.Background(), id, runID, api.ProgressQuery)
	require.NoError(t, err)
	require.NoError(t, q.Get(&progress))
	st := identity.Statement{WorkflowID: id, RunID: runID, Person: "dana", Action: identity.ActionApprove, Severity: "P2",
		Backup: api.BackupDigest(progress.Gate.Backups), Expires: time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second)}
	signer, err := identity.FileSigner(forger)
	require.NoError(t, err)
	sig, err := identity.Sign(signer, st)
	require.NoError(t, err)
	h, err := c.UpdateWorkflow(context.Background(), sdkclient.UpdateWorkflowOptions{WorkflowID: id, RunID: runID, UpdateName: api.DecideUpdate,
		Args:         []any{api.Decision{Approver: "dana", Approve: true, Statement: string(st.Text()), Signature: sig, Proof: api.SlackProof("U0DANA")}},
		WaitForStage: sdkclient.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(context.Background(), nil)
	}
	require.ErrorContains(t, err, "not signed for this by the worker's Slack bridge")

	n = len(slackAPI.all())
	require.Equal(t, http.StatusOK, clickFrom(t, endpoint, "trigger-dana", "U0DANA", "rewind_approve", run[1], requestTS))
	require.Contains(t, slackAPI.threadAnswer(t, requestTS, n), "<@U0DANA>: approved by dana (senior)")
	require.Equal(t, http.StatusConflict, clickFrom(t, endpoint, "trigger-dana", "U0DANA", "rewind_approve", run[1], requestTS), "a replay")
	e.awaitCompleted(c, id)

	var res api.Result
	require.NoError(t, c.GetWorkflow(context.Background(), id, "").Get(context.Background(), &res))
	require.Contains(t, res.Report, "(proof: slack:U0DANA)")
	var decided *slackCall
	for _, call := range slackAPI.all() {
		if call.Method == "chat.update" && call.TS == requestTS && strings.Contains(call.Blocks, "slack:U0DANA") {
			decided = &call
		}
	}
	require.NotNil(t, decided, "the request's message is updated in place with who decided: %+v", slackAPI.all())
	require.NotContains(t, decided.Blocks, "rewind_approve", "no buttons left")

	n = len(slackAPI.all())
	require.Equal(t, http.StatusOK, clickFrom(t, endpoint, "trigger-late", "U0DANA", "rewind_reject", run[1], requestTS))
	require.Contains(t, slackAPI.threadAnswer(t, requestTS, n), "was already decided: approved by dana (senior)")

	require.NotContains(t, w.logs.String(), slackBotToken)
	require.NotContains(t, w.logs.String(), slackSecret)
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		text := protojson.Format(ev)
		require.NotContains(t, text, slackBotToken)
		require.NotContains(t, text, slackSecret)
	}
}
