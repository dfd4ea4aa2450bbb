package archive

import (
	"errors"
	"fmt"

	"github.com/algotrendy/rewind/failure"
)

// ErrorType returns the Temporal error type of err when it is a refusal of this package
// (wrapped or not), and "" otherwise (I/O errors, a cancelled context: retryable).
func ErrorType(err error) string {
	var unsafe *UnsafeError
	var corrupt *CorruptError
	var limit *LimitError
	switch {
	case errors.As(err, &unsafe):
		return failure.UnsafeEntry
	case errors.As(err, &corrupt):
		return failure.CorruptBackup
	case errors.As(err, &limit):
		return failure.TooLarge
	}
	return ""
}

// Rule names the check an entry failed, for tests and logs.
type Rule string

// The rules an entry must pass.
const (
	RuleEmptyName       Rule = "empty-name"
	RuleAbsolute        Rule = "absolute-path"
	RuleDotDot          Rule = "dot-dot"
	RuleOutsideRoot     Rule = "outside-root"
	RuleRootNotDir      Rule = "root-not-directory"
	RuleThroughSymlink  Rule = "through-symlink"
	RuleSymlinkOut      Rule = "symlink-out"
	RuleHardLinkOut     Rule = "hardlink-out"
	RuleHardLinkUnknown Rule = "hardlink-unknown-target"
	RuleDevice          Rule = "device-node"
	RuleUnsupportedType Rule = "unsupported-type"
)

// UnsafeError names an entry that breaks a rule: it would be written outside the volume,
// or is of a kind a volume's restore must not create.
type UnsafeError struct {
	Entry  string
	Rule   Rule
	Reason string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("entry %q %s", e.Entry, e.Reason)
}

func unsafeEntry(entry string, rule Rule, format string, args ...any) error {
	return &UnsafeError{Entry: entry, Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

// CorruptError is a damaged gzip or tar stream: the runbook's `tar -tzf` fails on it too.
type CorruptError struct {
	// Entries is how many entries were read whole before the damage.
	Entries int
	// Entry is the entry being read when the damage showed ("" between entries).
	Entry string
	Err   error
}

func (e *CorruptError) Error() string {
	where := fmt.Sprintf("after %d entries", e.Entries)
	if e.Entry != "" {
		where = fmt.Sprintf("in entry %q (after %d entries)", e.Entry, e.Entries)
	}
	return fmt.Sprintf("damaged %s: %v (the runbook's `tar -tzf` fails on it too)", where, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// LimitError is an archive that unpacks past a limit: a decompression bomb or the wrong file.
type LimitError struct {
	// Entry is the entry that crossed the limit.
	Entry string
	// Bytes is set when the byte limit was crossed, Entries when the count was.
	Bytes   int64
	Entries int
}

func (e *LimitError) Error() string {
	if e.Entries > 0 {
		return fmt.Sprintf("holds more than %d entries at entry %q (a decompression bomb or the wrong file)", e.Entries, e.Entry)
	}
	return fmt.Sprintf("unpacks to more than %d bytes at entry %q (a decompression bomb or the wrong file)", e.Bytes, e.Entry)
}
