// Package slackapprove turns verified clicks on Slack approval messages into decisions at
// a rollback's approval gate. Slack proves who clicked (a signed HTTP request, or the
// worker's own Socket Mode connection); the worker's policy maps that Slack user to an
// approver (approvers[].slack); the decision goes through the same Update and gate as
// `rewind approve`, signed by the worker-held Slack bridge key (policy.slack_key) and
// carrying its proof, slack:U…. The gate stays the authority: it accepts the bridge's word
// only where the severity's proofs name slack.
//
// Whoever clicks is answered in the message's thread: refused with why, or what counted.
// The message itself is updated in place by the rollback's own notification once the gate
// closes, whichever door the decision came through.
package slackapprove

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// SignedFor is how long the bridge's statement stays good: it is sent at once.
const SignedFor = 5 * time.Minute

// seenFor is how long a handled interaction is remembered, to refuse it again: longer than
// the 5 minutes a signed request's timestamp is good for.
const seenFor = 15 * time.Minute

// Gate is what the bridge asks of a rollback: where it is, and to decide.
type Gate interface {
	Progress(ctx context.Context, workflowID, runID string) (api.Progress, error)
	Decide(ctx context.Context, workflowID, runID string, d api.Decision) (api.DecisionRecord, error)
}

// TemporalGate reaches rollbacks through a Temporal client, as `rewind approve` does.
type TemporalGate struct{ Client client.Client }

// Progress asks the rollback's progress query.
func (g TemporalGate) Progress(ctx context.Context, workflowID, runID string) (api.Progress, error) {
	var p api.Progress
	v, err := g.Client.QueryWorkflow(ctx, workflowID, runID, api.ProgressQuery)
	if err != nil {
		return p, fmt.Errorf("ask %s what it waits for: %w", workflowID, err)
	}
	return p, v.Get(&p)
}

// Decide sends the decision Update and waits for the gate's answer.
func (g TemporalGate) Decide(ctx context.Context, workflowID, runID string, d api.Decision) (api.DecisionRecord, error) {
	var rec api.DecisionRecord
	h, err := g.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, RunID: runID, UpdateName: api.DecideUpdate, Args: []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return rec, err
	}
	return rec, h.Get(ctx, &rec)
}

// Bridge answers clicks on approval messages.
type Bridge struct {
	policy *config.Config
	gate   Gate
	slack  *slack.Client
	signer ssh.Signer
	log    *slog.Logger
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time
	work sync.WaitGroup
}

// New is a bridge for the worker's policy, reaching gates through gate, answering with
// the bot client sc, and signing with the Slack bridge key.
func New(policy *config.Config, gate Gate, sc *slack.Client, signer ssh.Signer, log *slog.Logger) *Bridge {
	return &Bridge{policy: policy, gate: gate, slack: sc, signer: signer, log: log, now: time.Now, seen: map[string]time.Time{}}
}

// Wait returns once every click being handled is answered.
func (b *Bridge) Wait() { b.work.Wait() }

// Click is one button press on an approval message, as Slack proved it.
type Click struct {
	// ID names the interaction (its trigger_id), so a replay is refused.
	ID      string
	User    string // Slack user ID of who clicked
	Approve bool
	// Run is the button's value: workflowID/runID of the rollback.
	Run    string
	Reason string
	// Channel and TS name the message clicked; answers go in its thread.
	Channel, TS string
}

// ErrReplayed is a click the bridge has handled already.
var ErrReplayed = errors.New("this interaction was handled already; a replay changes nothing")

// ClickOf reads a click on an approval button from an interaction; false for anything else.
func ClickOf(cb slack.InteractionCallback) (Click, bool) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return Click{}, false
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a.ActionID != notify.SlackApproveAction && a.ActionID != notify.SlackRejectAction {
			continue
		}
		c := Click{
			ID: cb.TriggerID, User: cb.User.ID, Approve: a.ActionID == notify.SlackApproveAction, Run: a.Value,
			Channel: cmp.Or(cb.Container.ChannelID, cb.Channel.ID), TS: cmp.Or(cb.Container.MessageTs, cb.Message.Timestamp),
		}
		if c.ID == "" {
			c.ID = cb.User.ID + "@" + a.ActionTs
		}
		if st := cb.BlockActionState; st != nil {
			c.Reason = strings.TrimSpace(st.Values[notify.SlackReasonBlock][notify.SlackReasonInput].Value)
		}
		return c, true
	}
	return Click{}, false
}

// take claims a click once: false when it was handled already.
func (b *Bridge) take(c Click) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for id, at := range b.seen {
		if now.Sub(at) > seenFor {
			delete(b.seen, id)
		}
	}
	if _, ok := b.seen[c.ID]; ok {
		return false
	}
	b.seen[c.ID] = now
	return true
}

// Handle decides on a click and answers it in the message's thread. A click handled
// already is refused with ErrReplayed and changes nothing.
func (b *Bridge) Handle(ctx context.Context, c Click) error {
	if !b.take(c) {
		b.log.Warn("slack click refused: replayed", "slack_user", c.User, "run", c.Run)
		return ErrReplayed
	}
	return b.answer(ctx, c)
}

// answer decides on a click taken once, and answers it in the message's thread.
func (b *Bridge) answer(ctx context.Context, c Click) error {
	answer := b.decide(ctx, c)
	b.log.Info("slack click answered", "slack_user", c.User, "run", c.Run, "answer", answer)
	_, _, err := b.slack.PostMessageContext(ctx, c.Channel, slack.MsgOptionText(answer, false), slack.MsgOptionTS(c.TS))
	if err != nil {
		return fmt.Errorf("answer <@%s> in slack thread %s: %w", c.User, c.TS, err)
	}
	return nil
}

// answerLater answers a click taken once, after Slack was acknowledged (it waits 3 s at most).
func (b *Bridge) answerLater(ctx context.Context, c Click) {
	b.work.Go(func() {
		if err := b.answer(ctx, c); err != nil {
			b.log.Error("slack click", "slack_user", c.User, "run", c.Run, "err", err)
		}
	})
}

// approverOf is the policy's approver whose Slack user ID is user.
func (b *Bridge) approverOf(user string) (config.Approver, bool) {
	for _, a := range b.policy.Approvers {
		if a.Slack != "" && a.Slack == user {
			return a, true
		}
	}
	return config.Approver{}, false
}

const unchanged = " Nothing was changed."

// decide sends the click's decision to the gate and says, for the thread, what came of it.
// What the bridge refuses itself it refuses as the gate would; the gate judges the rest.
func (b *Bridge) decide(ctx context.Context, c Click) string {
	who, ok := b.approverOf(c.User)
	if !ok {
		return fmt.Sprintf("<@%s> is not an approver in this worker's policy: no approvers[].slack names this Slack user, so the click does not count. An admin adds your member ID to approvers[].slack in rewind.yaml."+unchanged, c.User)
	}
	workflowID, runID, ok := strings.Cut(c.Run, "/")
	if !ok || !strings.HasPrefix(workflowID, "rewind-") || runID == "" {
		return fmt.Sprintf("<@%s>: this button names no rollback Rewind knows (%q)."+unchanged, c.User, c.Run)
	}
	p, err := b.gate.Progress(ctx, workflowID, runID)
	if err != nil {
		return fmt.Sprintf("<@%s>: could not ask %s what it waits for (%v): try again, or `rewind approve %s`."+unchanged, c.User, workflowID, err, workflowID)
	}
	if p.Gate == nil {
		if d, ok := lastAccepted(p); ok {
			return fmt.Sprintf("<@%s>: %s was already decided: %s%s. Your click changes nothing.", c.User, workflowID, d.Reason, proofNote(d.Proof))
		}
		return fmt.Sprintf("<@%s>: %s is not waiting for a decision (now: %s)."+unchanged, c.User, workflowID, p.Phase)
	}
	severity := p.Gate.Severity
	rule, err := b.policy.Rule(severity)
	if err != nil || severity == "" {
		return fmt.Sprintf("<@%s>: %s names no severity this worker's policy knows (%q): decide with `rewind approve %s`."+unchanged, c.User, workflowID, severity, workflowID)
	}
	esc := b.policy.Severity.Escalation
	switch {
	case !slices.Contains(rule.Proofs, config.ProofSlack):
		return fmt.Sprintf("<@%s>: %s decisions are not taken from Slack here (severity.levels.%s.proofs does not name slack): use `rewind approve %s`."+unchanged, c.User, severity, severity, workflowID)
	case slices.Index(esc, who.Role) < slices.Index(esc, rule.Role):
		return fmt.Sprintf("<@%s> (%s) is %s; a %s rollback needs %s or above."+unchanged, c.User, who.Name, who.Role, severity, rule.Role)
	case !c.Approve && c.Reason == "":
		return fmt.Sprintf("<@%s>: a rejection needs a reason for the incident record: type it in the Reason field, then press Reject again."+unchanged, c.User)
	}
	action := identity.ActionApprove
	if !c.Approve {
		action = identity.ActionReject
	}
	st := identity.Statement{WorkflowID: workflowID, RunID: runID, Person: who.Name, Action: action, Severity: severity,
		Backup: api.BackupDigest(p.Gate.Backups), Expires: b.now().Add(SignedFor).UTC().Truncate(time.Second)}
	sig, err := identity.Sign(b.signer, st)
	if err != nil {
		return fmt.Sprintf("<@%s>: the Slack bridge could not sign your decision (%v): decide with `rewind approve %s`."+unchanged, c.User, err, workflowID)
	}
	rec, err := b.gate.Decide(ctx, workflowID, runID, api.Decision{
		Approver: who.Name, Approve: c.Approve, Reason: c.Reason,
		Statement: string(st.Text()), Signature: sig, Proof: api.SlackProof(c.User),
	})
	if err != nil {
		return fmt.Sprintf("<@%s>: %s refused the decision: %s."+unchanged, c.User, workflowID, refusal(err))
	}
	return fmt.Sprintf("<@%s>: %s%s.", c.User, rec.Reason, proofNote(rec.Proof))
}

// refusal is the gate's own words, without the client's wrapping.
func refusal(err error) string {
	msg := err.Error()
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return strings.TrimSuffix(msg, ".")
		}
		err, msg = inner, inner.Error()
	}
}

func proofNote(proof string) string {
	if proof == "" {
		return ""
	}
	return " (proof: " + proof + ")"
}

// lastAccepted is the decision that closed the gate, if any.
func lastAccepted(p api.Progress) (api.DecisionRecord, bool) {
	for _, d := range slices.Backward(p.Decisions) {
		if d.Accepted {
			return d, true
		}
	}
	return api.DecisionRecord{}, false
}
