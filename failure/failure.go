// Package failure names every way a Rewind step or rollback ends that no retry heals:
// the Temporal error types activities raise as non-retryable and workflows match on.
// One list, so a name is declared once and means one thing everywhere.
package failure

import (
	"errors"

	"go.temporal.io/sdk/temporal"
)

// CondemnsBackup reports whether err says the backup itself does not restore (try an older
// one), rather than the host failing (retry or fail the step).
func CondemnsBackup(err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false
	}
	switch appErr.Type() {
	case UnsafeEntry, CorruptBackup, TooLarge, ChecksumMismatch, MissingChecksum:
		return true
	}
	return false
}

// A rollback's input or the stack's configuration.
const (
	BadInput      = "BadInput"
	BadPolicy     = "BadPolicy"
	UnknownStack  = "UnknownStack"
	StoreConfig   = "BackupStoreConfig"
	NotAuthorized = "NotAuthorized"
	// NotAdmitted: the worker's gate refused a step no admitted Rewind rollback asked for.
	NotAdmitted = "NotAdmitted"
	NonceUsed   = "NonceUsed"
)

// Decisions and outcomes of a whole rollback.
const (
	Rejected           = "Rejected"
	NoDecision         = "NoDecision"
	VerificationFailed = "VerificationFailed"
	NoWorker           = "NoWorker"
	GroupFailed        = "GroupFailed"
	// GuardCouldNotAct: a guard found trouble but could not start the rollback.
	GuardCouldNotAct = "GuardCouldNotAct"
	// StepFailed: a step failed with an error of no type of its own; RollbackFailed: a
	// rollback did.
	StepFailed     = "StepFailed"
	RollbackFailed = "RollbackFailed"
	// UnknownStep: a step its rollback's checklist does not list.
	UnknownStep = "UnknownStep"
)

// Backups: a retry reads the same bytes and fails the same way.
const (
	NoSuchBackup     = "NoSuchBackup"
	NoGoodBackup     = "NoGoodBackup"
	ChecksumMismatch = "ChecksumMismatch"
	MissingChecksum  = "MissingChecksum"
	// UnsafeEntry: an entry would land outside the volume or is something no database
	// backup holds (a device node, a link out).
	UnsafeEntry = "UnsafeArchiveEntry"
	// CorruptBackup: gzip or tar is damaged.
	CorruptBackup = "CorruptBackup"
	// TooLarge: the archive unpacks to more bytes or entries than allowed.
	TooLarge = "BackupTooLarge"
)

// The Docker host.
const (
	EngineUnreachable = "EngineUnreachable"
	// EngineRefused: permission denied or not authenticated.
	EngineRefused    = "EngineRefused"
	NoSuchVolume     = "NoSuchVolume"
	NoSnapshotProof  = "NoSnapshotProof"
	SnapshotMismatch = "SnapshotMismatch"
	// VolumeInUse: a container runs on a volume a step would rename, remove or write.
	VolumeInUse = "VolumeInUse"
	// NoSpace: a filesystem is full; writing into it again changes nothing.
	NoSpace         = "NoSpace"
	NotHealthy      = "NotHealthy"
	ContextTooLarge = "BuildContextTooLarge"
	// BadRef: the repository has no such tag or commit.
	BadRef = "BadRef"
	// BlockedCheckout: the move would change what must not change (the stack's data, its
	// backups, Rewind's own files) or overwrite files git does not track.
	BlockedCheckout = "BlockedCheckout"
)
