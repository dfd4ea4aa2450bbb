package backups

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
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
	if err := record(filepath.Join(vs.Dir, stack), v.Name, v); err != nil {
		return fmt.Errorf("record the verdict on %s: %w", v.Name, err)
	}
	return nil
}

// Load returns the stack's verdicts by backup name; none is no error.
func (vs Verdicts) Load(stack string) (map[string]Verdict, error) {
	out, err := load[Verdict](filepath.Join(vs.Dir, stack), func(v Verdict) string { return v.Name })
	if err != nil {
		return nil, fmt.Errorf("read the verdicts of %s: %w", stack, err)
	}
	return out, nil
}

// record writes v as <dir>/<name>.json, whole or not at all.
func record(dir, name string, v any) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".record-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, url.PathEscape(name)+".json"))
}

// load reads every record in dir by the name key gives it; a missing dir is none.
func load[T any](dir string, key func(T) string) (map[string]T, error) {
	out := map[string]T{}
	files, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".json") || strings.HasPrefix(f.Name(), ".") {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("%s: %w; delete the file", filepath.Join(dir, f.Name()), err)
		}
		out[key(v)] = v
	}
	return out, nil
}

// VerdictsDir is where a host keeps verdicts, under its worker.state_dir.
func VerdictsDir(stateDir string) string { return filepath.Join(stateDir, "verdicts") }
