package api

import (
	"fmt"
	"time"
)

// BackupWorkflow is the workflow type of `rewind backup`.
const BackupWorkflow = "Backup"

// OptionBackup is what a backup's start names as its option, in its request and the
// statement its requester signs: a signed rollback start cannot pass for a backup's.
const OptionBackup = "backup"

// BackupSeverity is the severity a backup is admitted at: anyone the policy names for P1
// (the on-call and above) may take one, with no approval; the hold it takes is released
// on every path.
const BackupSeverity = "P1"

const backupSuffix = "-backup"

// BackupWorkflowID is the one ID a stack's backup runs under, so two never run at once.
func BackupWorkflowID(stack string) string { return WorkflowID(stack) + backupSuffix }

// BackupRequest starts a backup of a stack. Its fields are the Request's of the same
// names, so the worker's gate reads and proves a backup's start as it does a rollback's.
type BackupRequest struct {
	Stack     string
	Reason    string `json:",omitempty"`
	Requester string
	// RequestedAt is when the operator asked, as their clock read it.
	RequestedAt time.Time
	// Option is OptionBackup and Severity BackupSeverity; the CLI sets both.
	Option   string
	Severity string
	// Statement and Signature prove the requester, as a rollback's start does.
	Statement string `json:",omitempty"`
	Signature string `json:",omitempty"`
}

// Request is the backup's start as a Request: what the statement the requester signs is
// made of, and how the gate reads it.
func (b BackupRequest) Request() Request {
	return Request{Stack: b.Stack, Option: OptionBackup, Severity: BackupSeverity, Reason: b.Reason, Requester: b.Requester,
		RequestedAt: b.RequestedAt, Statement: b.Statement, Signature: b.Signature}
}

// BackupResult is what a backup wrote and how it held the database still.
type BackupResult struct {
	Stack string
	// Mode is the stack's backups.consistency: checkpoint, pause or stop.
	Mode string
	// Held is how long writes were held (pause, stop) or the database stayed in
	// checkpoint mode: from before the hold was asked for until its release returned.
	Held time.Duration
	// Released says the hold was released; Release says how, or why not.
	Released bool
	Release  string `json:",omitempty"`
	Backups  []BackupWritten
	// Retention is what backups.keep did after the backup, per volume; none without a
	// policy (or in runs before retention).
	Retention []Pruned `json:",omitempty"`
}

// Pruned is what retention did to one volume's backups.
type Pruned struct {
	Volume string
	// Removed are the backups removed with their sidecars; Kept the ones kept, each with
	// the rules that keep it ("questdb_backup_X.tar.gz (last, newest proven)").
	Removed []string `json:",omitempty"`
	Kept    []string `json:",omitempty"`
	// NotOurs are backups Rewind did not write: never counted, never removed.
	NotOurs []string `json:",omitempty"`
	// Error says why retention was not applied, "" when it was.
	Error string `json:",omitempty"`
}

// BackupWritten is one volume's backup, stored and read back.
type BackupWritten struct {
	Volume string
	// Name is the backup's name in the store; Location where that is.
	Name     string
	Location string
	SHA256   string
	Bytes    int64
}

// Summary is one line per backup, for people.
func (r BackupResult) Summary() []string {
	var out []string
	for _, b := range r.Backups {
		out = append(out, fmt.Sprintf("%s: %s (%d bytes, sha256 %s)", b.Volume, b.Location, b.Bytes, b.SHA256))
	}
	return out
}
