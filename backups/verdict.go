package backups

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/algotrendy/rewind/records"
)

// Verdict is the last time Rewind read a backup whole, and what it found: what `rewind
// backups` shows and `rewind plan` estimates from.
type Verdict struct {
	Name   string
	SHA256 string `json:",omitempty"`
	At     time.Time
	OK     bool
	// By is what read it: a rollback's run, or `rewind backups --verify`.
	By string
	// Detail is what was read (entries, bytes), or why the backup failed.
	Detail string
	// Bytes and Seconds are how much was restored or read and how long it took: this
	// host's throughput.
	Bytes   int64   `json:",omitempty"`
	Seconds float64 `json:",omitempty"`
	// Restored says the backup was restored into a volume, not only read.
	Restored bool `json:",omitempty"`
}

// Rate is the verdict's throughput in bytes a second, 0 when unknown.
func (v Verdict) Rate() float64 {
	if v.Seconds <= 0 {
		return 0
	}
	return float64(v.Bytes) / v.Seconds
}

// Verdicts keeps verdicts on the Docker host, one file per backup, so the worker and the
// CLI never overwrite each other's: <dir>/<stack>/<name>.json.
type Verdicts struct {
	Dir string
}

// Record stores v as the latest verdict on its backup.
func (vs Verdicts) Record(stack string, v Verdict) error {
	if err := records.Write(filepath.Join(vs.Dir, stack), v.Name, v); err != nil {
		return fmt.Errorf("record the verdict on %s: %w", v.Name, err)
	}
	return nil
}

// Load returns the stack's verdicts by backup name; none is no error.
func (vs Verdicts) Load(stack string) (map[string]Verdict, error) {
	all, err := records.All[Verdict](filepath.Join(vs.Dir, stack))
	if err != nil {
		return nil, fmt.Errorf("read the verdicts of %s: %w", stack, err)
	}
	return byName(all, func(v Verdict) string { return v.Name }), nil
}

func byName[T any](all []T, name func(T) string) map[string]T {
	out := make(map[string]T, len(all))
	for _, v := range all {
		out[name(v)] = v
	}
	return out
}

// VerdictsDir is where a host keeps verdicts, under its worker.state_dir.
func VerdictsDir(stateDir string) string { return filepath.Join(stateDir, "verdicts") }
