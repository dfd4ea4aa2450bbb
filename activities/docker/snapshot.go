package docker

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/pgzip"
	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"
)

// ErrSnapshotMismatch is the error type of a snapshot that reads back with another hash.
const ErrSnapshotMismatch = "SnapshotMismatch"

// SnapshotInput names the volume and where its forensic snapshot goes in the evidence store.
type SnapshotInput struct {
	Volume string
	// Name is the snapshot's name in the evidence store, like
	// incidents/20261126/rewind-prod/failed_deployment_algotrendy_v26_questdb_data.tar.gz.
	Name string
}

// SnapshotVolume streams the volume out of the engine (archive API on a helper container
// that is never started), gzips it on every core, stores it with a `sha256sum` sidecar,
// then reads it back and checks the hash. The archive uses the runbook's backup layout
// (<volume>/_data/...), so a snapshot restores like any backup.
func (a *Activities) SnapshotVolume(ctx context.Context, in SnapshotInput) (SnapshotProof, error) {
	if in.Volume == "" || in.Name == "" {
		return SnapshotProof{}, temporal.NewNonRetryableApplicationError("snapshot needs a volume and a name", ErrBadInput, nil)
	}
	// A retry after the snapshot was stored and checked finds it and its sidecar: done.
	if proof, err := a.readBack(ctx, in); err == nil {
		return proof, nil
	}
	id, cleanup, err := a.volumeHelper(ctx, in.Volume, true, "no volume %s to snapshot")
	if err != nil {
		return SnapshotProof{}, err
	}
	defer cleanup()
	src, err := a.Engine.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: "/data"})
	if err != nil {
		return SnapshotProof{}, fmt.Errorf("read volume %s through the archive API: %w", in.Volume, err)
	}
	defer src.Content.Close()

	pr, pw := io.Pipe()
	hash := sha256.New()
	counted := &countingReader{r: src.Content, beat: func(n int64) {
		heartbeat(ctx, fmt.Sprintf("%d bytes of volume %s read", n, in.Volume))
	}}
	go func() {
		pw.CloseWithError(relayout(counted, io.MultiWriter(pw, hash), in.Volume))
	}()
	if err := a.Evidence.Put(ctx, in.Name, pr); err != nil {
		pr.CloseWithError(err)
		return SnapshotProof{}, fmt.Errorf("store snapshot of volume %s: %w", in.Volume, err)
	}
	sum := hex.EncodeToString(hash.Sum(nil))
	sidecar := fmt.Sprintf("%s  %s\n", sum, path.Base(in.Name))
	if err := a.Evidence.Put(ctx, sidecarName(in.Name), strings.NewReader(sidecar)); err != nil {
		return SnapshotProof{}, fmt.Errorf("store checksum of snapshot %s: %w", in.Name, err)
	}
	proof, err := a.readBack(ctx, in)
	if err != nil {
		return SnapshotProof{}, err
	}
	if proof.SHA256 != sum {
		return SnapshotProof{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("snapshot %s reads back with sha256 %s, wrote %s", in.Name, proof.SHA256, sum), ErrSnapshotMismatch, nil)
	}
	return proof, nil
}

func sidecarName(name string) string {
	return strings.TrimSuffix(name, ".tar.gz") + ".sha256"
}

// readBack hashes the stored snapshot and compares it with its sidecar.
func (a *Activities) readBack(ctx context.Context, in SnapshotInput) (SnapshotProof, error) {
	sc, err := a.Evidence.Open(ctx, sidecarName(in.Name))
	if err != nil {
		return SnapshotProof{}, err
	}
	want, err := io.ReadAll(io.LimitReader(sc, 512))
	sc.Close()
	if err != nil {
		return SnapshotProof{}, fmt.Errorf("read checksum of %s: %w", in.Name, err)
	}
	fields := strings.Fields(string(want))
	if len(fields) == 0 {
		return SnapshotProof{}, fmt.Errorf("checksum file of %s is empty", in.Name)
	}
	f, err := a.Evidence.Open(ctx, in.Name)
	if err != nil {
		return SnapshotProof{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, &countingReader{r: f, beat: func(n int64) {
		heartbeat(ctx, fmt.Sprintf("%d bytes of the snapshot re-read", n))
	}})
	if err != nil {
		return SnapshotProof{}, fmt.Errorf("re-read snapshot %s: %w", in.Name, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != fields[0] {
		return SnapshotProof{}, fmt.Errorf("snapshot %s reads back with sha256 %s, its sidecar says %s", in.Name, got, fields[0])
	}
	return SnapshotProof{Volume: in.Volume, Location: in.Name, Path: a.Evidence.Location(in.Name), SHA256: got, Bytes: n}, nil
}

// relayout rewrites the engine's archive of /data (entries data/...) into the runbook's
// layout <volume>/_data/... and gzips it on every core.
func relayout(src io.Reader, dst io.Writer, volume string) error {
	gz, err := pgzip.NewWriterLevel(dst, pgzip.DefaultCompression)
	if err != nil {
		return err
	}
	tr := tar.NewReader(src)
	tw := tar.NewWriter(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the engine's archive of volume %s: %w", volume, err)
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
			return fmt.Errorf("write snapshot entry %s: %w", hdr.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("write snapshot entry %s: %w", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// countingReader counts bytes and calls beat at most every 8 MiB.
type countingReader struct {
	r    io.Reader
	n    int64
	last int64
	beat func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.beat != nil && c.n-c.last >= 8<<20 {
		c.last = c.n
		c.beat(c.n)
	}
	return n, err
}
