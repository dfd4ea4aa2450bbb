package workflows

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Error types of the approval gate.
const (
	ErrNotAuthorized = "NotAuthorized"
	ErrRejected      = "Rejected"
	ErrNoDecision    = "NoDecision"
)

// Approver is a person who may approve rollbacks, with their role and optional key.
type Approver struct {
	Name string
	Role string
	// PublicKey is base64 ed25519; when set, this approver's decisions must be signed.
	PublicKey string `json:",omitempty"`
}

// Rule is the decision table's line for one severity.
type Rule struct {
	Role         string
	DecisionTime time.Duration
	HardDeadline time.Duration
}

// Policy is who may approve what: the runbook's "Rollback Authority & Escalation".
type Policy struct {
	Rule      Rule
	Approvers []Approver
	// Escalation lists roles from least to most authority.
	Escalation []string
}

// DecisionRecord is one line of the decision log: every signal, accepted or refused.
type DecisionRecord struct {
	At       time.Time
	Approver string
	Approve  bool
	Accepted bool
	Reason   string
}

// SignedText is what an approver with a key signs: the rollback and the decision.
func SignedText(workflowID, runID string, approve bool) []byte {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	return []byte(fmt.Sprintf("rewind:%s:%s:%s", workflowID, runID, verb))
}

func (p Policy) rank(role string) int { return slices.Index(p.Escalation, role) }

func (p Policy) approver(name string) (Approver, bool) {
	for _, a := range p.Approvers {
		if a.Name == name {
			return a, true
		}
	}
	return Approver{}, false
}

// judge decides whether one decision counts, and says why not.
func (p Policy) judge(d Decision, requester, workflowID, runID string) (bool, string) {
	a, ok := p.approver(d.Approver)
	switch {
	case !ok:
		return false, d.Approver + " is not an approver of this rollback"
	case d.Approver == requester:
		return false, d.Approver + " asked for this rollback and cannot approve it too"
	case p.rank(a.Role) < p.rank(p.Rule.Role):
		return false, fmt.Sprintf("%s is %s; this severity needs %s or above", a.Name, a.Role, p.Rule.Role)
	case a.PublicKey != "":
		key, err := base64.StdEncoding.DecodeString(a.PublicKey)
		sig, serr := base64.StdEncoding.DecodeString(d.Signature)
		if err != nil || len(key) != ed25519.PublicKeySize || serr != nil ||
			!ed25519.Verify(ed25519.PublicKey(key), SignedText(workflowID, runID, d.Approve), sig) {
			return false, fmt.Sprintf("%s's signature does not verify with their key", a.Name)
		}
	}
	if d.Approve {
		return true, fmt.Sprintf("approved by %s (%s)", a.Name, a.Role)
	}
	return true, fmt.Sprintf("rejected by %s (%s): %s", a.Name, a.Role, d.Reason)
}

// awaitApproval is the approval gate: P1 goes at once when its requester has the role;
// otherwise it waits for a decision signal from someone with authority, escalates at the
// decision time and gives up at the hard deadline, having changed nothing.
func (r *rollback) awaitApproval(step string) error {
	ctx := r.ctx
	p := r.in.Policy
	info := workflow.GetInfo(ctx)
	id, runID := info.WorkflowExecution.ID, info.WorkflowExecution.RunID
	ch := workflow.GetSignalChannel(ctx, ApprovalSignal)
	r.track.start(step)

	if p.Rule.DecisionTime == 0 {
		a, ok := p.approver(r.in.Requester)
		if !ok || p.rank(a.Role) < p.rank(p.Rule.Role) {
			reason := fmt.Sprintf("%s may not start a %s rollback: it needs %s or above", r.in.Requester, r.in.Severity, p.Rule.Role)
			r.record(DecisionRecord{Approver: r.in.Requester, Approve: true, Reason: reason})
			r.track.finish(step, StateFailed, reason)
			return temporal.NewNonRetryableApplicationError(reason+"; nothing was changed", ErrNotAuthorized, nil)
		}
		reason := fmt.Sprintf("%s policy: %s (%s) proceeds at once", r.in.Severity, a.Name, a.Role)
		r.record(DecisionRecord{Approver: a.Name, Approve: true, Accepted: true, Reason: reason})
		r.track.finish(step, StateDone, reason)
		return nil
	}

	r.track.finish(step, StateWaiting, fmt.Sprintf("%s needs a %s or above within %s: rewind approve %s --as NAME", r.in.Severity, p.Rule.Role, p.Rule.DecisionTime, id))
	r.track.progress.Phase = "waiting for approval"
	r.track.publish()
	start := workflow.Now(ctx)
	hard := p.Rule.HardDeadline
	if hard < p.Rule.DecisionTime {
		hard = 4 * p.Rule.DecisionTime
	}
	escalated := false
	for {
		deadline := hard
		if !escalated {
			deadline = p.Rule.DecisionTime
		}
		timerCtx, cancel := workflow.WithCancel(ctx)
		summary := "decision time of " + r.in.Severity
		if escalated {
			summary = "hard deadline of " + r.in.Severity
		}
		timer := workflow.NewTimerWithOptions(timerCtx, max(deadline-workflow.Now(ctx).Sub(start), time.Millisecond), workflow.TimerOptions{Summary: summary})
		var d Decision
		var fired bool
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &d) })
		sel.AddFuture(timer, func(workflow.Future) { fired = true })
		sel.Select(ctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if fired && !escalated {
			escalated = true
			next := p.Rule.Role
			if i := p.rank(p.Rule.Role); i >= 0 && i+1 < len(p.Escalation) {
				next = p.Escalation[i+1]
			}
			msg := fmt.Sprintf("no decision from a %s within %s; escalated to %s", p.Rule.Role, p.Rule.DecisionTime, next)
			r.record(DecisionRecord{Reason: msg})
			r.escalate(msg)
			r.track.finish(step, StateWaiting, msg)
			continue
		}
		if fired {
			reason := fmt.Sprintf("no approval within the hard deadline of %s; nothing was changed", hard)
			r.track.finish(step, StateFailed, reason)
			return temporal.NewNonRetryableApplicationError(reason, ErrNoDecision, nil)
		}
		ok, why := p.judge(d, r.in.Requester, id, runID)
		r.record(DecisionRecord{Approver: d.Approver, Approve: d.Approve, Accepted: ok, Reason: why})
		if !ok {
			continue
		}
		if !d.Approve {
			r.track.finish(step, StateFailed, why)
			return temporal.NewNonRetryableApplicationError(why+"; nothing was changed", ErrRejected, nil)
		}
		r.track.finish(step, StateDone, why)
		return nil
	}
}

func (r *rollback) record(d DecisionRecord) {
	d.At = workflow.Now(r.ctx)
	r.track.progress.Decisions = append(r.track.progress.Decisions, d)
	r.track.publish()
}
