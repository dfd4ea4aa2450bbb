// Package workflows holds Rewind's rollbacks as deterministic Temporal workflows, one file
// per option of the runbook. This file is the contract the CLI, the worker and the tests share.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/backup"
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
	case OptionFull:
		return "Full", true
	case OptionQuick:
		return "Quick", true
	case OptionGit:
		return "Git", true
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
	// ComposeCommand is the operator's compose CLI; empty detects it.
	ComposeCommand []string `json:",omitempty"`
	Backups        Backups
	Checks         Checks
	// Image is the deployed image the quick rollback removes (`docker rmi`); empty keeps it.
	Image string `json:",omitempty"`
	// Build is how the git rollback rebuilds the image of the version it checks out.
	Build Build
}

// Build is the runbook's `docker build -f backend/Dockerfile -t algotrendy-api:<version> .`.
type Build struct {
	Dockerfile string
	// Image is the repository name; the tag is the version checked out.
	Image string
}

// Backups says where the stack's backups are and what a good one is.
type Backups struct {
	Location        backup.Location
	Pattern         string
	RequireChecksum bool
}

// Checks are the post-rollback verification of the runbook, as configured for the stack.
type Checks struct {
	HealthURL     string
	HealthExpect  string
	DatabaseURL   string
	DataQuery     string
	LogsMustHave  []string
	LogsMustLack  []string
	FunctionalURL string
	HealthTimeout time.Duration
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
	// Policy says who may approve this rollback (the severity's rule and the approvers).
	Policy Policy
	// Ref is the version quick and git rollbacks go back to: a tag, a commit, HEAD~1
	// (git's reset one commit back) or previous-tag.
	Ref string `json:",omitempty"`
	// Reset moves the branch too (`git reset --hard`) instead of detaching HEAD.
	Reset bool `json:",omitempty"`
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
