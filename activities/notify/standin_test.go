package notify_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/algotrendy/rewind/activities/notify"
)

// recorded is one request a stand-in received.
type recorded struct {
	Path string
	Body []byte
}

// standIn is a local HTTP server standing in for a service notify posts to (Slack's
// incoming webhook, PagerDuty's events endpoint, a JSON webhook): it records every request
// and answers each with the same status and body.
type standIn struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
}

func newStandIn(t *testing.T, status int, contentType, body string) *standIn {
	t.Helper()
	s := &standIn{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, recorded{Path: r.URL.Path, Body: b})
		s.mu.Unlock()
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// since returns the requests after the first n.
func (s *standIn) since(n int) []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.requests[n:]...)
}

func (s *standIn) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// slackCall is one call to the Slack Web API stand-in, from its form.
type slackCall struct {
	Method, Token, Channel, TS, ThreadTS, Text, Blocks string
	Broadcast                                          bool
}

// slackAPIStandIn stands in for Slack's Web API: chat.postMessage answers with channel
// C0INCIDENT and a new ts, chat.update echoes the channel and ts it was given. It answers
// any other method with an error, as Slack does.
type slackAPIStandIn struct {
	*httptest.Server
	mu    sync.Mutex
	calls []slackCall
}

const slackChannelID = "C0INCIDENT"

func newSlackAPIStandIn(t *testing.T) *slackAPIStandIn {
	t.Helper()
	s := &slackAPIStandIn{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		call := slackCall{
			Method: path.Base(r.URL.Path), Token: r.PostForm.Get("token"), Channel: r.PostForm.Get("channel"),
			TS: r.PostForm.Get("ts"), ThreadTS: r.PostForm.Get("thread_ts"), Text: r.PostForm.Get("text"),
			Blocks: r.PostForm.Get("blocks"), Broadcast: r.PostForm.Get("reply_broadcast") == "true",
		}
		s.mu.Lock()
		s.calls = append(s.calls, call)
		n := len(s.calls)
		s.mu.Unlock()
		answer := map[string]any{"ok": true}
		switch call.Method {
		case "chat.postMessage":
			answer["channel"], answer["ts"] = slackChannelID, fmt.Sprintf("1700000000.%06d", n)
		case "chat.update":
			answer["channel"], answer["ts"], answer["text"] = call.Channel, call.TS, call.Text
		default:
			answer = map[string]any{"ok": false, "error": "unknown_method"}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *slackAPIStandIn) since(n int) []slackCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slackCall(nil), s.calls[n:]...)
}

func (s *slackAPIStandIn) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// logBuffer collects what the activity logs; the slog handler writes from several
// goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// activityEnv runs acts's activities in Temporal's test activity environment, so
// activity.GetLogger and GetInfo work, with everything they log captured.
func activityEnv(t *testing.T, acts *notify.Activities) (*testsuite.TestActivityEnvironment, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return env, logs
}

// runNotify executes the Notify activity and decodes its Result.
func runNotify(t *testing.T, env *testsuite.TestActivityEnvironment, ev notify.Event) notify.Result {
	t.Helper()
	val, err := env.ExecuteActivity("Notify", ev)
	require.NoError(t, err, "Notify must never fail the rollback")
	var res notify.Result
	require.NoError(t, val.Get(&res))
	return res
}

// blockText is every "text" string in a Block Kit JSON document, one per line.
func blockText(t *testing.T, blocksJSON []byte) string {
	t.Helper()
	var doc any
	require.NoError(t, json.Unmarshal(blocksJSON, &doc))
	var texts []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for key, child := range v {
				if s, ok := child.(string); ok && key == "text" {
					texts = append(texts, s)
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	return strings.Join(texts, "\n")
}
