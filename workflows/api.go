// Package workflows holds Rewind's rollbacks as deterministic Temporal workflows, one file
// per option of the runbook. This file is the contract the CLI, the worker and the tests share.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// DefaultTaskQueue is where rollback workflows run unless the config names another.
const DefaultTaskQueue = "rewind"

// ProgressQuery returns the rollback's Progress.
const ProgressQuery = "progress"

// Options of the runbook.
const (
	OptionQuick     = "quick"
	OptionFull      = "full"
	OptionGit       = "git"
	OptionEmergency = "emergency"
)

// Search attributes operators filter the Web UI by.
var (
	StackKey    = temporal.NewSearchAttributeKeyKeyword("RewindStack")
	OptionKey   = temporal.NewSearchAttributeKeyKeyword("RewindOption")
	SeverityKey = temporal.NewSearchAttributeKeyKeyword("RewindSeverity")
	PhaseKey    = temporal.NewSearchAttributeKeyKeyword("RewindPhase")
)

// WorkflowID is the one ID a stack's rollback runs under, so two cannot run at once.
func WorkflowID(stack string) string { return "rewind-" + stack }

// HostTaskQueue is the task queue of the activities that must run on a Docker host.
func HostTaskQueue(taskQueue, host string) string { return taskQueue + "@" + host }

// WorkflowName maps an option to its workflow type.
func WorkflowName(option string) (string, bool) {
	switch option {
	case OptionEmergency:
		return "Emergency", true
	}
	return "", false
}

// Target is the compose deployment being rolled back, as the config describes it.
type Target struct {
	Project      string
	ComposeFiles []string
	WorkingDir   string
	Services     []string
	Volumes      []string
	StopGrace    time.Duration
}

// Request starts a rollback. It holds no secrets: it is stored in the workflow history.
type Request struct {
	Stack     string
	Option    string
	Severity  string
	Reason    string
	Requester string
	Target    Target
	// RequestedAt is when the operator asked, as their clock read it.
	RequestedAt time.Time
	// HostQueue is the task queue of the worker on the stack's Docker host.
	HostQueue string
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
	Summary string
	Phase   string
	Steps   []Step
	Outcome string `json:",omitempty"`
	Notice  string `json:",omitempty"`
}

// ApprovalSignal carries a Decision from `rewind approve` or `rewind reject`.
const ApprovalSignal = "approval"

// Decision is one approver's answer to a rollback waiting at the approval gate.
type Decision struct {
	Approver string
	Approve  bool
	Reason   string
	// Signature is an ed25519 signature (base64) over SignedText, for approvers with a key.
	Signature string `json:",omitempty"`
}
