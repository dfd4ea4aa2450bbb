package api

import (
	"time"

	"github.com/algotrendy/rewind/identity"
)

// GuardRequest starts watching a deploy. Like a rollback request, it names only what the
// operator decides; what to sample and the limits come from the worker's configuration.
type GuardRequest struct {
	Stack string
	// Requester started the guard, and so lets it start the stack's guard rollback at
	// P1: they must be a person of the worker's policy who may start that rollback.
	Requester string
	// Version is what was deployed, for the record.
	Version string `json:",omitempty"`
	// Backups are the backups `rewind deployed` took just before the deploy, one per
	// volume: the guard's full rollback restores that one (one volume) or names them, so
	// it loses only what was written after the deploy began.
	Backups     []string `json:",omitempty"`
	RequestedAt time.Time
	// Window and Interval override the stack's guard settings.
	Window   time.Duration `json:",omitempty"`
	Interval time.Duration `json:",omitempty"`
	// State is what the guard learnt before it continued as new; nil on a fresh start,
	// which refuses one.
	State *GuardState `json:",omitempty"`
	// Statement is the requester's signed identity.Statement ("start <guard option>", P1,
	// for the guard's workflow ID) and Signature its SSHSIG, when the policy or their
	// keys ask for one: a guard may start that rollback.
	Statement string `json:",omitempty"`
	Signature string `json:",omitempty"`
}

// GuardState is what the guard carries from sample to sample.
type GuardState struct {
	Until   time.Time
	Samples int
	// Baseline holds the first samples' latencies; Memory the recent memory readings.
	Baseline []time.Duration `json:",omitempty"`
	Memory   []MemoryPoint   `json:",omitempty"`
	// HealthFailures counts failed health checks in a row; DownSince when a container
	// was first seen down (zero while all are up); Restarts0 the restarts at the start.
	HealthFailures int
	DownSince      time.Time `json:",omitzero"`
	Restarts0      int
	Started        bool
	// LastLook is when the logs were last read; Began when the guard's first run began,
	// so its first look reads only what happened since.
	LastLook time.Time `json:",omitzero"`
	Began    time.Time `json:",omitzero"`
	// Recorded are the minor findings noted so far, once per criterion.
	Recorded []string `json:",omitempty"`
	// Runs are each criterion's current run of samples above its limit.
	Runs []CriterionRun `json:",omitempty"`
	// Acted is the rollback this guard started ("workflow/run"): it acts once, and again
	// only when a person starts a new guard. Counted are the criteria that counted.
	Acted   string   `json:",omitempty"`
	Outcome string   `json:",omitempty"`
	Counted []string `json:",omitempty"`
}

// CriterionRun is a criterion's run of samples in a row above its limit: when it began,
// how many, and their values (the last seriesPoints of them).
type CriterionRun struct {
	Criterion string
	Since     time.Time `json:",omitzero"`
	Count     int       `json:",omitempty"`
	Series    []Point   `json:",omitempty"`
	// Last is the measure's latest value, known or not.
	Last  float64
	Known bool `json:",omitempty"`
}

// Point is one value of a measure.
type Point struct {
	At    time.Time
	Value float64
}

// MemoryPoint is one reading of the containers' memory.
type MemoryPoint struct {
	At    time.Time
	Bytes int64
}

// GuardResult is how a guard ended.
type GuardResult struct {
	Outcome string
	// Rollback is the rollback it started, if any.
	Rollback string   `json:",omitempty"`
	Findings []string `json:",omitempty"`
}

// GuardAuthority is what starting a guard authorizes: the stack's guard option at P1, in
// the starter's name. Its statement is for the guard's workflow ID, so it starts nothing
// by itself.
func GuardAuthority(stack, option, requester string) Request {
	return Request{Stack: stack, Option: option, Severity: "P1", Requester: requester}
}

// GuardStartStatement is what a guard's starter signs when the policy or their keys ask
// for a signature (the CLI signs it; the guard checks it as a rollback checks its start).
func GuardStartStatement(stack, option, requester string, expires time.Time, nonce string) identity.Statement {
	return StartStatement(GuardAuthority(stack, option, requester), GuardWorkflowID(stack), expires, nonce)
}
