package volume

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/checkpoint"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/storage"
)

// SnapshotInput names the volume and where its forensic snapshot goes in the evidence store.
type SnapshotInput struct {
	Volume string
	// Name is the snapshot's name in the evidence store, like
	// incidents/20261126/rewind-prod/<run>/failed_deployment_algotrendy_v26_questdb_data.tar.gz.
	Name string
	// CreatedAt is the volume's creation time as inspected: a stored snapshot is reused
	// (by a retry) only when it was made of this same volume.
	CreatedAt string `json:",omitempty"`
}

// Snapshots are staged on the worker's host as a gzip file of several members, one per
// segment of entries, each ended before the checkpoint is written: a retry cuts the file
// back to the last whole member and goes on from the entry after it.
const defaultSegmentBytes = 64 << 20

// snapshotCheckpoint is a staged snapshot's checkpoint, kept beside it.
type snapshotCheckpoint struct {
	// Entries of the engine's archive of the volume in the staged file, which is Size
	// bytes long at the end of its last whole member.
	Entries int
	Size    int64
	// Done: the archive is staged whole; SHA256 is its hash.
	Done   bool
	SHA256 string
	// Upload is how far its upload to a remote evidence store got.
	Upload storage.UploadCheckpoint
	// Stored: a backup's upload under its final name began, so a backup found under that
	// name on a retry is this one.
	Stored bool `json:",omitempty"`
	// CreatedAt is the snapshotted volume's creation time.
	CreatedAt string
}

// snapshotOf is stored beside a snapshot: which volume it holds, so a retry reuses only a
// snapshot of this volume.
type snapshotOf struct {
	Volume    string
	CreatedAt string
	SHA256    string
}

// SnapshotVolume streams the volume out of the engine (archive API on a helper container
// that is never started), gzips it on every core into a file on this host, stores that in
// the evidence store with a `sha256sum` sidecar, then reads it back and checks the hash.
// The archive uses the runbook's backup layout (<volume>/_data/...), so a snapshot restores
// like any backup. Each stage checkpoints on this host, so a crashed snapshot goes on
// where it stopped.
func (a *Activities) SnapshotVolume(ctx context.Context, in SnapshotInput) (SnapshotProof, error) {
	if in.Volume == "" || in.Name == "" {
		return SnapshotProof{}, temporal.NewNonRetryableApplicationError("snapshot needs a volume and a name", failure.BadInput, nil)
	}
	// The staged copy is kept beside its checkpoint in the state folder; without one, in
	// a temporary folder that goes when the snapshot is stored.
	journal := a.checkpointFile(ctx, "snapshot", in.Volume, in.Name)
	file, kept := strings.TrimSuffix(journal, ".json")+".tar.gz", journal != ""
	// A retry after the snapshot was stored and checked finds it, its sidecar and its
	// record of the volume: done.
	if proof, err := readBack(ctx, a.Evidence, in.Name, in.Volume); err == nil && a.snapshotIsOf(ctx, in, proof) {
		return keepLocal(proof, file, kept), nil
	}
	if !kept {
		dir, err := os.MkdirTemp("", "rewind-snapshot-")
		if err != nil {
			return SnapshotProof{}, fmt.Errorf("stage snapshot of volume %s: %w", in.Volume, err)
		}
		defer os.RemoveAll(dir)
		journal = filepath.Join(dir, "checkpoint.json")
		file = filepath.Join(dir, "snapshot.tar.gz")
	}
	var cp snapshotCheckpoint
	if checkpoint.Load(journal, &cp) && cp.CreatedAt != in.CreatedAt {
		cp = snapshotCheckpoint{} // staged from another volume of the same name
	}
	cp.CreatedAt = in.CreatedAt
	if !cp.Done {
		var err error
		if cp, err = a.stageSnapshot(ctx, in.Volume, file, journal, cp); err != nil {
			return SnapshotProof{}, noSpace(err, "snapshot of volume "+in.Volume+" on this host")
		}
	}
	saved := func(u storage.UploadCheckpoint) {
		cp.Upload = u
		_ = checkpoint.Save(journal, cp) // the store's own list of parts is the truth on resume
	}
	if err := a.Evidence.PutFile(ctx, in.Name, file, cp.Upload, saved); err != nil {
		return SnapshotProof{}, noSpace(fmt.Errorf("store snapshot of volume %s: %w", in.Volume, err), "store snapshot "+in.Name)
	}
	sidecar := fmt.Sprintf("%s  %s\n", cp.SHA256, path.Base(in.Name))
	if err := a.Evidence.Put(ctx, sidecarName(in.Name), strings.NewReader(sidecar)); err != nil {
		return SnapshotProof{}, fmt.Errorf("store checksum of snapshot %s: %w", in.Name, err)
	}
	record, _ := json.Marshal(snapshotOf{Volume: in.Volume, CreatedAt: in.CreatedAt, SHA256: cp.SHA256})
	if err := a.Evidence.Put(ctx, recordName(in.Name), bytes.NewReader(record)); err != nil {
		return SnapshotProof{}, fmt.Errorf("store what snapshot %s holds: %w", in.Name, err)
	}
	proof, err := readBack(ctx, a.Evidence, in.Name, in.Volume)
	if err != nil {
		return SnapshotProof{}, err
	}
	if proof.SHA256 != cp.SHA256 {
		return SnapshotProof{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("snapshot %s reads back with sha256 %s, wrote %s", in.Name, proof.SHA256, cp.SHA256), failure.SnapshotMismatch, nil)
	}
	_ = os.Remove(journal)
	if proof = keepLocal(proof, file, kept); proof.Local != file {
		_ = os.Remove(file)
	}
	return proof, nil
}

// keepLocal names the staged copy of a snapshot stored in a remote evidence store; a
// local store's file is on this host already.
func keepLocal(p SnapshotProof, staged string, kept bool) SnapshotProof {
	if filepath.IsAbs(p.Path) {
		p.Local = p.Path
		return p
	}
	if _, err := os.Stat(staged); kept && err == nil {
		p.Local = staged
	}
	return p
}

// stageSnapshot writes the volume's archive into file, going on from cp. Backups are
// staged the same way.
func (a *Activities) stageSnapshot(ctx context.Context, volume, file, journal string, cp snapshotCheckpoint) (snapshotCheckpoint, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return cp, fmt.Errorf("create state folder: %w", err)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return cp, fmt.Errorf("stage snapshot of volume %s: %w", volume, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() < cp.Size {
		cp = snapshotCheckpoint{} // the staged file is gone or short: start over
	}
	if err := f.Truncate(cp.Size); err != nil {
		return cp, fmt.Errorf("cut staged snapshot back to its checkpoint: %w", err)
	}
	hash := sha256.New()
	if _, err := io.Copy(hash, io.NewSectionReader(f, 0, cp.Size)); err != nil {
		return cp, fmt.Errorf("re-read staged snapshot: %w", err)
	}
	if _, err := f.Seek(cp.Size, io.SeekStart); err != nil {
		return cp, err
	}

	id, cleanup, err := a.volumeHelper(ctx, volume, true, "no volume %s to snapshot")
	if err != nil {
		return cp, err
	}
	defer cleanup()
	src, err := a.Engine.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: "/data"})
	if err != nil {
		return cp, fmt.Errorf("read volume %s through the archive API: %w", volume, err)
	}
	defer src.Content.Close()
	tr := tar.NewReader(&heartbeat.Reader{R: src.Content, Ctx: ctx, Beat: func(n int64) {
		heartbeat.Beat(ctx, fmt.Sprintf("%s of volume %s read", meter.MiB(n), volume))
	}})
	for i := 0; i < cp.Entries; i++ {
		if _, err := tr.Next(); err != nil {
			return cp, fmt.Errorf("skip to entry %d of volume %s, where the last attempt stopped: %w", cp.Entries, volume, err)
		}
	}
	out := io.MultiWriter(meter.For(ctx, meter.Snapshot).Writer(f), hash)
	segment := cmp.Or(a.BatchBytes, defaultSegmentBytes)
	gz := archive.NewGzipper()
	for {
		member, err := gz.Member(ctx, out)
		if err != nil {
			return cp, fmt.Errorf("compress snapshot of volume %s: %w", volume, err)
		}
		n, done, err := writeSegment(tr, member, volume, segment)
		if cerr := member.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("compress snapshot of volume %s: %w", volume, cerr)
		}
		if err != nil {
			return cp, err
		}
		if err := f.Sync(); err != nil {
			return cp, fmt.Errorf("sync staged snapshot: %w", err)
		}
		cp.Entries += n
		if cp.Size, err = f.Seek(0, io.SeekCurrent); err != nil {
			return cp, err
		}
		if done {
			cp.Done, cp.SHA256 = true, hex.EncodeToString(hash.Sum(nil))
		}
		if err := checkpoint.Save(journal, cp); err != nil {
			return cp, err
		}
		if done {
			return cp, nil
		}
	}
}

// snapshotIsOf reports whether the stored snapshot was made of the volume as it is now.
func (a *Activities) snapshotIsOf(ctx context.Context, in SnapshotInput, p SnapshotProof) bool {
	r, err := a.Evidence.Open(ctx, recordName(in.Name), 0)
	if err != nil {
		return false
	}
	defer r.Close()
	var of snapshotOf
	return json.NewDecoder(io.LimitReader(r, 4096)).Decode(&of) == nil &&
		of.Volume == in.Volume && of.CreatedAt == in.CreatedAt && of.SHA256 == p.SHA256
}

func recordName(name string) string {
	return strings.TrimSuffix(name, ".tar.gz") + ".volume.json"
}

func sidecarName(name string) string {
	return strings.TrimSuffix(name, ".tar.gz") + ".sha256"
}

// readBack hashes a stored archive of volume (a snapshot or a backup) and compares it
// with its sidecar.
func readBack(ctx context.Context, store storage.Store, name, volume string) (SnapshotProof, error) {
	sc, err := store.Open(ctx, sidecarName(name), 0)
	if err != nil {
		return SnapshotProof{}, err
	}
	want, err := io.ReadAll(io.LimitReader(sc, 512))
	sc.Close()
	if err != nil {
		return SnapshotProof{}, fmt.Errorf("read checksum of %s: %w", name, err)
	}
	fields := strings.Fields(string(want))
	if len(fields) == 0 {
		return SnapshotProof{}, fmt.Errorf("checksum file of %s is empty", name)
	}
	got, n, err := hashStored(ctx, store, name)
	if err != nil {
		return SnapshotProof{}, err
	}
	if got != fields[0] {
		return SnapshotProof{}, fmt.Errorf("%s reads back with sha256 %s, its sidecar says %s", name, got, fields[0])
	}
	return SnapshotProof{Volume: volume, Location: name, Path: store.Location(name), SHA256: got, Bytes: n}, nil
}

// hashStored reads a stored file back whole and hashes it.
func hashStored(ctx context.Context, store storage.Store, name string) (string, int64, error) {
	f, err := store.Open(ctx, name, 0)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, &heartbeat.Reader{R: f, Ctx: ctx, Beat: func(n int64) {
		heartbeat.Beat(ctx, fmt.Sprintf("%s of %s re-read", meter.MiB(n), path.Base(name)))
	}})
	if err != nil {
		return "", 0, fmt.Errorf("re-read %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeSegment copies entries of the engine's archive of /data (data/...) into one gzip
// member in the runbook's layout (<volume>/_data/...), until limit bytes of file data or
// the end of the archive, which the last member closes.
func writeSegment(tr *tar.Reader, member io.Writer, volume string, limit int64) (entries int, done bool, err error) {
	tw := tar.NewWriter(member)
	for size := int64(0); size < limit; {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			done = true
			break
		}
		if err != nil {
			return 0, false, fmt.Errorf("read the engine's archive of volume %s: %w", volume, err)
		}
		rest := strings.TrimPrefix(strings.TrimPrefix(hdr.Name, "data"), "/")
		hdr.Name = path.Join(volume, "_data", rest)
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = path.Join(volume, "_data", strings.TrimPrefix(strings.TrimPrefix(hdr.Linkname, "data"), "/"))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, false, fmt.Errorf("write snapshot entry %s: %w", hdr.Name, err)
		}
		n, err := io.Copy(tw, tr)
		if err != nil {
			return 0, false, fmt.Errorf("write snapshot entry %s: %w", hdr.Name, err)
		}
		size += n + 512
		entries++
	}
	// Only the last member ends the tar archive; the others stop at an entry's end.
	if done {
		err = tw.Close()
	} else {
		err = tw.Flush()
	}
	if err != nil {
		return 0, false, err
	}
	return entries, done, nil
}
