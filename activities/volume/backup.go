package volume

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/backups"

	"github.com/algotrendy/rewind/checkpoint"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
)

// BackupInput names the volume and the backup to write of it in the stack's backup store.
type BackupInput struct {
	Volume   string
	Location storage.Location
	// Name is the backup's file name, like questdb_backup_20261203_141500.tar.gz; it must
	// match Pattern, the volume's backups pattern, so the rollbacks find it.
	Name    string
	Pattern string
	// Reason is why the backup was taken ("before deploying v2.7"), kept in its marker.
	Reason string `json:",omitempty"`
}

// partialPrefix marks a backup not yet whole and re-read: no pattern of backups matches it.
const partialPrefix = ".rewind-partial-"

// BackupVolume writes a backup of the volume in the runbook's own format (what `tar -czf
// backup.tar.gz -C /var/lib/docker/volumes <volume>` makes, with a `sha256sum` sidecar)
// into the stack's backup store, on the snapshot's path: staged and checkpointed on this
// host, stored under a temporary name until whole, re-read and hash checked, then renamed
// to its name, sidecar last. The caller holds the database still meanwhile.
func (a *Activities) BackupVolume(ctx context.Context, in BackupInput) (SnapshotProof, error) {
	if err := in.check(); err != nil {
		return SnapshotProof{}, temporal.NewNonRetryableApplicationError(err.Error()+"; nothing was written", failure.BadInput, nil)
	}
	store, err := storage.Open(ctx, in.Location)
	if err != nil {
		return SnapshotProof{}, fmt.Errorf("open the backup store %s: %w", in.Location, err)
	}
	journal := a.checkpointFile(ctx, "backup", in.Volume, in.Name)
	var cp snapshotCheckpoint
	checkpoint.Load(journal, &cp)
	// A backup of that name that this step did not store is someone else's: never
	// overwritten, never passed off as this one. A retry after ours was stored finds it.
	if _, err := store.Stat(ctx, in.Name); !errors.Is(err, storage.ErrNotFound) {
		if err != nil {
			return SnapshotProof{}, fmt.Errorf("look for backup %s in %s: %w", in.Name, store.Describe(), err)
		}
		if !cp.Stored {
			return SnapshotProof{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("backup %s already exists in %s; Rewind never overwrites a backup: take the backup again in a second", in.Name, store.Describe()), failure.BadInput, nil)
		}
		if proof, err := readBack(ctx, store, in.Name, in.Volume); err == nil {
			return proof, nil
		}
	}
	file := strings.TrimSuffix(journal, ".json") + ".tar.gz"
	if journal == "" {
		dir, err := os.MkdirTemp("", "rewind-backup-")
		if err != nil {
			return SnapshotProof{}, fmt.Errorf("stage backup of volume %s: %w", in.Volume, err)
		}
		defer os.RemoveAll(dir)
		journal, file = filepath.Join(dir, "checkpoint.json"), filepath.Join(dir, "backup.tar.gz")
	}
	if !cp.Done {
		if cp, err = a.stageSnapshot(ctx, in.Volume, file, journal, cp); err != nil {
			return SnapshotProof{}, noSpace(err, "backup of volume "+in.Volume+" on this host")
		}
	}
	// Written down before the name is taken, so a retry knows the backup under it is ours.
	cp.Stored = true
	_ = checkpoint.Save(journal, cp)
	if err := publish(ctx, store, in.Name, file, cp.SHA256, &cp.Upload, func() { _ = checkpoint.Save(journal, cp) }, marker(ctx, in.Name, cp.SHA256, in.Reason)); err != nil {
		return SnapshotProof{}, noSpace(err, "store backup "+in.Name)
	}
	proof, err := readBack(ctx, store, in.Name, in.Volume)
	if err != nil {
		return SnapshotProof{}, fmt.Errorf("re-read backup %s once published: %w", in.Name, err)
	}
	_ = os.Remove(journal)
	_ = os.Remove(file)
	return proof, nil
}

// publish stores the staged file under a temporary name, re-reads it there and checks its
// hash, renames it to name, writes Rewind's marker, and the sidecar last: a backup with a
// sidecar is whole.
func publish(ctx context.Context, store storage.Store, name, file, sha string, up *storage.UploadCheckpoint, saved func(), mark []byte) error {
	partial := partialPrefix + name
	// A crash after the rename left the backup under its name without its sidecar.
	if got, _, err := hashStored(ctx, store, name); err != nil || got != sha {
		if err := store.PutFile(ctx, partial, file, *up, func(u storage.UploadCheckpoint) { *up = u; saved() }); err != nil {
			return fmt.Errorf("store backup %s: %w", partial, err)
		}
		got, _, err := hashStored(ctx, store, partial)
		if err != nil {
			return err
		}
		if got != sha {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("backup %s reads back with sha256 %s, wrote %s; check the store's disk or bucket", partial, got, sha), failure.ChecksumMismatch, nil)
		}
		if err := rename(ctx, store, partial, name, file, up); err != nil {
			return err
		}
	}
	if err := store.Put(ctx, backups.MarkerName(name), bytes.NewReader(mark)); err != nil {
		return fmt.Errorf("store Rewind's marker of backup %s: %w", name, err)
	}
	sidecar := fmt.Sprintf("%s  %s\n", sha, path.Base(name))
	if err := store.Put(ctx, sidecarName(name), strings.NewReader(sidecar)); err != nil {
		return fmt.Errorf("store checksum of backup %s: %w", name, err)
	}
	return nil
}

// rename gives the re-read partial its final name; a store that cannot rename it (an S3
// object over 5 GiB) stores the staged file again under that name.
func rename(ctx context.Context, store storage.Store, partial, name, file string, up *storage.UploadCheckpoint) error {
	r, ok := store.(storage.Renamer)
	if ok {
		err := r.Rename(ctx, partial, name)
		if err == nil || !errors.Is(err, storage.ErrTooLargeToRename) {
			return err
		}
	}
	*up = storage.UploadCheckpoint{}
	if err := store.PutFile(ctx, name, file, *up, func(u storage.UploadCheckpoint) { *up = u }); err != nil {
		return fmt.Errorf("store backup %s: %w", name, err)
	}
	return nil
}

// marker says this run wrote the backup: retention removes no backup without one.
func marker(ctx context.Context, name, sha, reason string) []byte {
	m := backups.Marker{Name: name, SHA256: sha, Reason: reason, At: time.Now().UTC()}
	if activity.IsActivity(ctx) {
		run := activity.GetInfo(ctx).WorkflowExecution
		m.Workflow, m.Run = run.ID, run.RunID
	}
	body, _ := json.MarshalIndent(m, "", "  ")
	return body
}

func (in BackupInput) check() error {
	switch {
	case in.Volume == "" || in.Name == "":
		return errors.New("a backup needs a volume and a name")
	case path.Base(in.Name) != in.Name || strings.HasPrefix(in.Name, "."):
		return fmt.Errorf("backup name %q is not a plain file name", in.Name)
	case !strings.HasSuffix(in.Name, ".tar.gz"):
		return fmt.Errorf("backup name %q does not end in .tar.gz", in.Name)
	}
	if ok, err := path.Match(in.Pattern, in.Name); err != nil || !ok {
		return fmt.Errorf("backup name %q does not match the volume's pattern %q, so no rollback would find it", in.Name, in.Pattern)
	}
	return nil
}
