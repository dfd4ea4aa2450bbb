// Package api is the contract of Rewind's workflows: what the CLI, the worker and the
// tests share (requests, results, the checklist, IDs, handler and search attribute names).
// It imports no activity package, so the rewind CLI builds without the Docker Engine's
// client; package workflows implements it.
package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/identity"
)

// DefaultTaskQueue is where rollback workflows run unless the config names another.
const DefaultTaskQueue = "rewind"

// HostTaskQueue is the task queue of the steps that must run on a stack's Docker host.
func HostTaskQueue(taskQueue, host string) string { return taskQueue + "@" + host }

// Options of the runbook.
const (
	OptionQuick     = "quick"
	OptionFull      = "full"
	OptionGit       = "git"
	OptionEmergency = "emergency"
)

// Options lists the runbook's options in its order.
func Options() []string { return []string{OptionQuick, OptionFull, OptionGit, OptionEmergency} }

// WorkflowName maps an option to its workflow type.
func WorkflowName(option string) (string, bool) {
	switch option {
	case OptionQuick:
		return "Quick", true
	case OptionFull:
		return "Full", true
	case OptionGit:
		return "Git", true
	case OptionEmergency:
		return "Emergency", true
	}
	return "", false
}

// Workflow types that are not an option's.
const (
	// FleetWorkflow is the workflow type of a group rollback.
	FleetWorkflow = "Fleet"
	// GuardWorkflow is the guard's workflow type, as the worker registers it.
	GuardWorkflow = "Guard"
)

// workflowIDPrefix starts the ID of every rollback; groupIDPrefix a group's (stacks may not
// be named group-…).
const (
	workflowIDPrefix = "rewind-"
	groupIDPrefix    = workflowIDPrefix + "group-"
	verifySuffix     = "-verify"
)

// WorkflowID is the one ID a stack's rollback runs under, so two cannot run at once.
func WorkflowID(stack string) string { return workflowIDPrefix + stack }

// GroupWorkflowID is the one ID a group's rollback runs under.
func GroupWorkflowID(group string) string { return groupIDPrefix + group }

// GuardWorkflowID is the workflow that guards a stack's latest deploy.
func GuardWorkflowID(stack string) string { return WorkflowID(stack) + "-guard" }

// VerifyWorkflowID is the verification child of the rollback running as rollbackID.
func VerifyWorkflowID(rollbackID string) string { return rollbackID + verifySuffix }

// IDOf accepts what operators type for a rollback, a workflow ID or a stack name, and
// returns the workflow ID.
func IDOf(idOrStack string) string {
	if strings.HasPrefix(idOrStack, workflowIDPrefix) {
		return idOrStack
	}
	return WorkflowID(idOrStack)
}

// Names of the handlers a rollback and a guard register.
const (
	// ProgressQuery returns the rollback's Progress.
	ProgressQuery = "progress"
	// DecideUpdate carries a Decision; its validator refuses, at once and without a trace
	// in history, what the worker's policy does not allow.
	DecideUpdate = "decide"
	// RollbackStartedSignal tells a stack's guard that someone started a rollback by hand:
	// the guard stops, the people are on it, once the server shows that rollback running.
	RollbackStartedSignal = "rollback-started"
)

// Search attributes operators filter the Web UI and `rewind list` by.
var (
	StackKey    = temporal.NewSearchAttributeKeyKeyword("RewindStack")
	OptionKey   = temporal.NewSearchAttributeKeyKeyword("RewindOption")
	SeverityKey = temporal.NewSearchAttributeKeyKeyword("RewindSeverity")
	PhaseKey    = temporal.NewSearchAttributeKeyKeyword("RewindPhase")
)

// Request starts a rollback. It names only what the operator decides: the stack's target
// (compose files, volumes, backups, checks) and who may approve come from the worker's
// own configuration. It is stored in the workflow history, so it holds no secrets.
type Request struct {
	Stack     string
	Option    string
	Severity  string
	Reason    string
	Requester string
	// RequestedAt is when the operator asked, as their clock read it.
	RequestedAt time.Time
	// Ref is the version quick and git rollbacks go back to: a tag, a commit, HEAD~1 or
	// previous-tag (the default).
	Ref string `json:",omitempty"`
	// Reset moves the branch too (`git reset --hard`) instead of detaching HEAD.
	Reset bool `json:",omitempty"`
	// Backup pins the backup a full rollback restores (its name in the store); empty picks
	// the newest that restores completely.
	Backup string `json:",omitempty"`
	// NoPutBack leaves a failed rollback's stack as the failure left it, for people who
	// would rather look at it than have it put back.
	NoPutBack bool `json:",omitempty"`
	// Statement is the requester's signed statement (identity.Statement text) and
	// Signature its SSHSIG, when the policy requires signatures.
	Statement string `json:",omitempty"`
	Signature string `json:",omitempty"`
	// Group names the group a rollback of several stacks was asked for; GroupDecision is
	// the group's approval, which its stacks' rollbacks share when they run as its children.
	Group         string `json:",omitempty"`
	GroupDecision string `json:",omitempty"`
	// GroupBackups are the backups the group's approval named for this stack ("name
	// sha256" per volume): the stack restores those or stops before changing anything.
	GroupBackups []string `json:",omitempty"`
}

// Decision is one approver's answer to a rollback waiting at its approval gate.
type Decision struct {
	Approver string
	Approve  bool
	Reason   string
	// Statement and Signature prove the approver decided: the statement names the
	// workflow, the run, the approver, the decision, the backup and an expiry.
	Statement string `json:",omitempty"`
	Signature string `json:",omitempty"`
	// Proof says how the approver was proven when not by their own key: "slack:U…", a
	// click Slack attributes to that user, signed by the Slack bridge's key.
	Proof string `json:",omitempty"`
}

// SlackProof is the Proof of a decision taken from Slack user id.
func SlackProof(user string) string { return "slack:" + user }

// DecisionRecord is one line of the decision log: every decision accepted, refused signals,
// and Rewind's own notes (escalations).
type DecisionRecord struct {
	At       time.Time
	Approver string
	Approve  bool
	Accepted bool
	Reason   string
	// Proof is how an accepted decision was proven: "slack:U…", "ssh:SHA256:…", or ""
	// when the policy asked for none.
	Proof string `json:",omitempty"`
}

// Result is how a rollback ended.
type Result struct {
	Stack   string
	Option  string
	Outcome string
	// Notice is what people must know next, like "offline — investigate before restart".
	Notice   string
	Steps    []Step
	Evidence []string
	// Report is the incident report in Markdown, as archived.
	Report string `json:",omitempty"`
}

// Step states, as the checklist shows them.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateWaiting = "waiting for approval"
	StateDone    = "done"
	StateFailed  = "failed"
	StateSkipped = "skipped"
)

// Step is one line of the rollback's checklist.
type Step struct {
	Name     string
	State    string
	Detail   string    `json:",omitempty"`
	Started  time.Time `json:",omitzero"`
	Finished time.Time `json:",omitzero"`
}

// Progress is what the progress query returns and the Web UI shows as current details.
type Progress struct {
	Summary   string
	Phase     string
	Steps     []Step
	Outcome   string           `json:",omitempty"`
	Notice    string           `json:",omitempty"`
	Decisions []DecisionRecord `json:",omitempty"`
	// Gate is what the approval gate waits for, while it waits.
	Gate *Gate `json:",omitempty"`
}

// BeforeGate reports whether the rollback has yet to reach its approval step.
func (p Progress) BeforeGate() bool {
	for _, s := range p.Steps {
		if s.Name == StepApproval {
			return s.State == StatePending
		}
	}
	return false
}

// Gate is an open approval gate: who may decide, by when, and about which backups.
type Gate struct {
	Role     string
	Deadline time.Time
	// Backups are what a full rollback would restore, one per volume ("name sha256"); a
	// signed decision names them, so an approval cannot be carried over to other data.
	Backups []string `json:",omitempty"`
	RunID   string
	// Severity is the rollback's, as a decision's statement names it.
	Severity string `json:",omitempty"`
}

// OfflineNotice is what an emergency stop leaves people with.
const OfflineNotice = "offline — investigate before restart"

// MaxSignedFor is the longest a signed decision may stay good.
const MaxSignedFor = time.Hour

// MaxStartSignedFor is the longest a signed start may stay good: it names no run, and sits
// in history for anyone to read, so besides its nonce its short life keeps it from use.
const MaxStartSignedFor = 10 * time.Minute

// StartStatement is what a requester signs to start req as workflowID (WorkflowID of its
// stack, or GroupWorkflowID of its group): everything the request decides, the reason's
// digest, and a nonce the worker admits once.
func StartStatement(req Request, workflowID string, expires time.Time, nonce string) identity.Statement {
	return identity.Statement{
		WorkflowID: workflowID, Person: req.Requester, Action: "start " + req.Option, Severity: req.Severity,
		Stack: req.Stack, Group: req.Group, Ref: req.Ref, Reset: req.Reset, PinnedBackup: req.Backup, NoPutBack: req.NoPutBack,
		ReasonDigest: identity.ReasonDigest(req.Reason), Nonce: nonce, Expires: expires,
	}
}

// BackupDigest is what a signed decision about a full rollback names as its backup: the
// one backup's sha256 ("name sha256" entries, as Gate lists them), or a sha256 over the
// list when several volumes are restored.
func BackupDigest(backups []string) string {
	switch len(backups) {
	case 0:
		return ""
	case 1:
		_, sum, _ := strings.Cut(backups[0], " ")
		return sum
	}
	h := sha256.Sum256([]byte(strings.Join(backups, "\n")))
	return hex.EncodeToString(h[:])
}

// Markdown renders the checklist the Web UI shows and `rewind status` prints.
func (p Progress) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n\n", p.Summary)
	for _, s := range p.Steps {
		box := " "
		if s.State == StateDone || s.State == StateSkipped {
			box = "x"
		}
		line := fmt.Sprintf("- [%s] %s", box, s.Name)
		if s.State != StateDone && s.State != StatePending {
			line += " — _" + s.State + "_"
		}
		if s.Detail != "" {
			line += ": " + s.Detail
		}
		b.WriteString(line + "\n")
	}
	if p.Outcome != "" {
		fmt.Fprintf(&b, "\n**Outcome:** %s\n", p.Outcome)
	}
	if p.Notice != "" {
		fmt.Fprintf(&b, "\n> %s\n", p.Notice)
	}
	return b.String()
}

// StepApproval is the checklist's approval line, which every option with a gate has.
const StepApproval = "Approval"
