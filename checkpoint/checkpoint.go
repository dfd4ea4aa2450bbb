// Package checkpoint holds what a long transfer records after each batch, in its
// heartbeats and in a file on the worker's host, so a retry goes on after the last batch
// instead of starting over. The worker writes checkpoints; `rewind status` reads them out
// of heartbeats. It registers nothing and knows nothing of Docker.
package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Transfer is the checkpoint of a restore of a backup into a volume, or of a copy of one
// volume into another: a retry goes on after the last batch the volume took.
type Transfer struct {
	BackupSize int64
	BackupMod  time.Time
	// Entries of the source consumed by batches that completed, and the file bytes they
	// carried: a retry skips that many entries.
	Entries int
	Bytes   int64
	// BackupRead is how far into the compressed backup the restore has read, for people
	// following it (`rewind status`).
	BackupRead int64
	// Done: every entry is in the volume and the checksum matched; SHA256 is the hash.
	Done   bool
	SHA256 string `json:",omitempty"`
	// Boot is the host's boot the batches were written in: they are not synced (the swap
	// syncs the staged data), so a checkpoint of an earlier boot is not trusted.
	Boot string `json:",omitempty"`
	// Transfer is the way a copy's entries were counted: the mover's walk and the engine's
	// archive number them apart, so a checkpoint of the other way is not trusted.
	Transfer string `json:",omitempty"`
}

// Load reads the checkpoint at path into v; false when there is none (or path is empty,
// which keeps checkpoints in heartbeats only) or it cannot be read.
func Load(path string, v any) bool {
	if path == "" {
		return false
	}
	b, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(b, v) == nil
}

// Save writes v at path atomically and syncs it, so a crash leaves the old checkpoint or
// the new; an empty path saves nothing.
func Save(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create state folder: %w", err)
	}
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("put checkpoint in place: %w", err)
	}
	return nil
}
