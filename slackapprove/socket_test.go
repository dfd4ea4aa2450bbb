package slackapprove

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"github.com/slack-go/slack/socketmode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const appToken = "xapp-test-app-token-never-shown"

// TestSocketModeTakesAClickOnce: over Socket Mode (slacktest answering apps.connections.open
// and holding the WebSocket as Slack would), bob's click is acknowledged and approves; the
// same envelope redelivered, as Slack does when an acknowledgement is late, sends nothing.
func TestSocketModeTakesAClickOnce(t *testing.T) {
	h := newHarness(t, "P2")
	acks := make(chan string, 4)
	var srv *slacktest.Server
	srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+appToken {
				_, _ = w.Write([]byte(`{"ok": false, "error": "invalid_auth"}`))
				return
			}
			ws := "ws://" + srv.ServerAddr + "/socket"
			_, _ = w.Write([]byte(`{"ok": true, "url": "` + ws + `"}`))
		})
		c.Handle("/socket", func(w http.ResponseWriter, r *http.Request) {
			conn, err := (&websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			form, err := url.ParseQuery(interaction("trigger-socket", "U0BOB", "rewind_approve", "from the phone"))
			if err != nil {
				return
			}
			envelope, _ := json.Marshal(map[string]any{"envelope_id": "env-1", "type": "interactive", "payload": json.RawMessage(form.Get("payload"))})
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type": "hello", "num_connections": 1}`))
			for range 2 { // delivered, then redelivered
				_ = conn.WriteMessage(websocket.TextMessage, envelope)
				var ack struct {
					EnvelopeID string `json:"envelope_id"`
				}
				if err := conn.ReadJSON(&ack); err != nil {
					return
				}
				acks <- ack.EnvelopeID
			}
			_, _, _ = conn.ReadMessage() // hold the connection until the client leaves
		})
	})
	srv.Start()
	t.Cleanup(srv.Stop)

	api := slack.New(botToken, slack.OptionAppLevelToken(appToken), slack.OptionAPIURL(srv.GetAPIURL()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.bridge.RunSocketMode(ctx, socketmode.New(api)) }()

	require.Equal(t, "env-1", <-acks)
	require.Equal(t, "env-1", <-acks)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Len(c, h.replies(), 1)
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	require.Equal(t, "<@U0BOB>: approved by bob (proof: slack:U0BOB).", h.replies()[0].Text)
	sent := h.gate.sent()
	require.Len(t, sent, 1, "the redelivered envelope sent nothing")
	require.Equal(t, "from the phone", sent[0].Reason)
	h.mu.Lock()
	defer h.mu.Unlock()
	require.False(t, strings.Contains(h.logs.String(), appToken), "no app token in the logs")
}
