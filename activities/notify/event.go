package notify

import (
	"fmt"
	"strings"
	"time"
)

// Kind is what happened to a rollback.
type Kind string

// Kinds of events, in the order a rollback usually sends them.
const (
	KindStarted        Kind = "started"
	KindApprovalNeeded Kind = "approval-needed"
	KindEscalated      Kind = "escalated"
	KindDecided        Kind = "decided"
	KindFinished       Kind = "finished"
	KindFailed         Kind = "failed"
	KindEmergencyStop  Kind = "emergency-stop"
	// KindNotice is a free-form notice from Send (Subject and Detail only).
	KindNotice Kind = "notice"
)

// Verdicts of a Decision.
const (
	VerdictApproved = "approved"
	VerdictRejected = "rejected"
)

// Event is one thing people must hear about a rollback. It is an activity input, stored in
// Temporal history and posted as-is to the JSON webhook (the json tags are the documented
// field names): it must never hold a secret.
//
// The Slack message is rebuilt from each event, so every event of a run carries the whole
// story so far (stack, option, requester, backup, decision…), not only what changed.
type Event struct {
	Kind Kind `json:"kind"`
	// RunKey names one rollback run (workflowID/runID); PagerDuty's dedup key. Empty takes
	// the calling workflow's.
	RunKey string `json:"run_key"`
	// WorkflowID is the rollback's workflow; empty takes the calling workflow's.
	WorkflowID string `json:"workflow_id"`
	Stack      string `json:"stack,omitempty"`
	Option     string `json:"option,omitempty"`
	// Severity is P1, P2 or P3.
	Severity  string `json:"severity,omitempty"`
	Requester string `json:"requester,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Backup is the name of the backup being restored, BackupSHA256 its checksum.
	Backup       string `json:"backup,omitempty"`
	BackupSHA256 string `json:"backup_sha256,omitempty"`
	// ApproverRole and Approvers say who may approve (role and names).
	ApproverRole string   `json:"approver_role,omitempty"`
	Approvers    []string `json:"approvers,omitempty"`
	// ApproveCommand is what an approver types; empty on approval-needed and escalated
	// events takes ApproveCommand(WorkflowID).
	ApproveCommand string `json:"approve_command,omitempty"`
	// Deadline is when a waiting rollback gives up without a decision.
	Deadline time.Time `json:"deadline,omitzero"`
	// UILink opens the rollback in the Temporal Web UI.
	UILink   string   `json:"ui_link,omitempty"`
	Decision Decision `json:"decision,omitzero"`
	// Outcome is how the rollback ended, in a few words.
	Outcome string `json:"outcome,omitempty"`
	// Detail is what failed, what was put back and where the evidence is.
	Detail string `json:"detail,omitempty"`
	// Subject is the headline of a KindNotice; other kinds build their own.
	Subject string `json:"subject,omitempty"`
	// SlackMessage is the message to update, from the previous Result; empty posts a new one.
	SlackMessage SlackMessage `json:"slack_message,omitzero"`
}

// Decision is who decided what about a rollback waiting for approval.
type Decision struct {
	By      string `json:"by"`
	Verdict string `json:"verdict"`
	Note    string `json:"note,omitempty"`
	// Proof is how the decider was proven: "slack:U…", "ssh:SHA256:…".
	Proof string `json:"proof,omitempty"`
}

// SlackMessage names a Slack message that later events update in place.
type SlackMessage struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// Result says where a notification went. It is stored in Temporal history: failures are
// redacted.
type Result struct {
	// Delivered names the backends that took the notification ("worker log", "slack",
	// "pagerduty", "webhook").
	Delivered []string
	// Failed is "backend: reason" for each backend that refused or could not be reached.
	Failed []string
	// SlackMessage is the message to pass in the next Event of the run.
	SlackMessage SlackMessage
}

// Message is the notice of older workflows, kept for Send.
type Message struct {
	Subject string
	Text    string
}

// ApproveCommand is the command an approver runs for the rollback workflowID.
func ApproveCommand(workflowID string) string {
	return fmt.Sprintf("rewind approve %s --as NAME", workflowID)
}

// awaitsApproval says whether the event asks someone to approve.
func awaitsApproval(k Kind) bool {
	return k == KindApprovalNeeded || k == KindEscalated
}

// needsAttention says whether the event must reach a person now, not only update a record.
func needsAttention(k Kind) bool {
	return awaitsApproval(k) || k == KindFailed || k == KindEmergencyStop
}

// state is the event's icon and the rollback's state in a few words.
func state(ev Event) (icon, text string) {
	switch ev.Kind {
	case KindStarted:
		return "🔄", "started"
	case KindApprovalNeeded:
		return "✋", "waiting for approval"
	case KindEscalated:
		return "🚨", "still waiting for approval (escalated)"
	case KindDecided:
		switch ev.Decision.Verdict {
		case VerdictApproved:
			return "✅", "approved by " + ev.Decision.By
		case VerdictRejected:
			return "⛔", "rejected by " + ev.Decision.By
		}
		return "☑️", strings.TrimSpace(ev.Decision.Verdict + " by " + ev.Decision.By)
	case KindFinished:
		return "✅", "finished"
	case KindFailed:
		return "❌", "failed"
	case KindEmergencyStop:
		return "🛑", "EMERGENCY STOP"
	}
	return "ℹ️", string(ev.Kind)
}

// headline is one line saying what happened to which rollback.
func headline(ev Event) string {
	icon, st := state(ev)
	if ev.Kind == KindNotice && ev.Subject != "" {
		return icon + " " + ev.Subject
	}
	if h, ok := drillHeadline(ev, icon); ok {
		return h
	}
	what := strings.TrimSpace(ev.Severity + " rollback")
	if ev.Stack != "" {
		what += " of " + ev.Stack
	}
	if ev.Option != "" {
		what += " (" + ev.Option + ")"
	}
	return fmt.Sprintf("%s Rewind: %s %s", icon, what, st)
}

// shortSHA is enough of a checksum to compare by eye.
func shortSHA(sum string) string {
	sum = strings.TrimPrefix(sum, "sha256:")
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
