package api

import (
	"strings"
	"time"
)

// DrillWorkflow is the workflow type of a restore drill.
const DrillWorkflow = "Drill"

// OptionDrill is what a drill names as its option in search attributes and notices.
const OptionDrill = "drill"

const drillSuffix = "-drill"

// DrillWorkflowID is the ID `rewind drill` starts a stack's drill under, and the base of
// the IDs its Schedule's runs get (the server appends "-<time>", RFC 3339, to each).
func DrillWorkflowID(stack string) string { return WorkflowID(stack) + drillSuffix }

// DrillScheduleID names the Temporal Schedule of a stack's drills.
func DrillScheduleID(stack string) string { return WorkflowID(stack) + drillSuffix }

// DrillStack is the stack a drill's workflow ID names: rewind-<stack>-drill, or that with
// the time a Schedule appends to each run's ID.
func DrillStack(id string) (string, bool) {
	const stamp = len("-2006-01-02T15:04:05Z")
	if len(id) > stamp {
		if _, err := time.Parse(time.RFC3339, id[len(id)-stamp+1:]); err == nil {
			id = id[:len(id)-stamp]
		}
	}
	name, ok := strings.CutPrefix(id, workflowIDPrefix)
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, drillSuffix)
	return name, ok && name != ""
}

// DrillRequest starts a drill. It carries only the stack: the backup drilled is the
// newest, and what is started and checked comes from the worker's configuration.
type DrillRequest struct {
	Stack string
	// By says who asked: a person's name for `rewind drill`, "schedule" for the Schedule.
	By string `json:",omitempty"`
}

// DrillResult is what a drill proved of each volume's newest backup.
type DrillResult struct {
	Stack string
	// OK says the throwaway database served the stack's data check.
	OK bool
	// Backups are the drilled backups, one per volume.
	Backups []string
	At      time.Time
	// Seconds is how long the drill took, restore to answered check.
	Seconds float64
	Detail  string
	// Stale says, when the newest proven backup is older than backups.max_age, how old
	// it is ("" when fresh or no max_age is set).
	Stale string `json:",omitempty"`
}
