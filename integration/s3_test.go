package integration

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/pgzip"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/storage/s3test"
)

// startS3 runs a real S3-protocol server with the buckets "backups" and "evidence"; the
// worker reaches it with the credentials TestMain puts in the environment.
func startS3(t testing.TB) *s3test.Server {
	t.Helper()
	return s3test.Start(t, "backups", "evidence")
}

// store opens a bucket under this env's prefix, as the worker sees it.
func (e *env) store(bucket string) storage.Store {
	e.t.Helper()
	s, err := storage.NewS3(context.Background(), storage.Location{Bucket: bucket, Prefix: e.project + "/", Endpoint: e.s3.URL, UsePathStyle: true, Region: "us-east-1", PartSize: 5 << 20})
	require.NoError(e.t, err)
	return s
}

// uploadBackup puts a local backup and its sidecar into the backups bucket.
func (e *env) uploadBackup(path string) {
	e.t.Helper()
	s := e.store("backups")
	for _, p := range []string{path, backups.SidecarName(path), backups.FingerprintName(path)} {
		if _, err := os.Stat(p); err != nil && p == backups.FingerprintName(path) {
			continue // a backup tool that records no fingerprint
		}
		require.NoError(e.t, s.PutFile(context.Background(), filepath.Base(p), p, storage.UploadCheckpoint{}, func(storage.UploadCheckpoint) {}))
	}
}

// objectSHA256 hashes a stored object.
func (e *env) objectSHA256(bucket, name string) string {
	e.t.Helper()
	r, err := e.store(bucket).Open(context.Background(), name, 0)
	require.NoError(e.t, err)
	defer r.Close()
	h := sha256.New()
	_, err = io.Copy(h, r)
	require.NoError(e.t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// archiveManifest reads a tar.gz in the runbook's layout (<volume>/_data/...) into a
// map of file path to sha256.
func archiveManifest(t testing.TB, r io.Reader) map[string]string {
	t.Helper()
	zr, err := pgzip.NewReader(r)
	require.NoError(t, err)
	return tarManifest(t, zr, 2)
}

// tarManifest hashes the regular files of a tar stream, dropping strip leading path parts.
func tarManifest(t testing.TB, r io.Reader, strip int) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := hdr.Name
		for range strip {
			if _, rest, ok := strings.Cut(name, "/"); ok {
				name = rest
			}
		}
		h := sha256.New()
		_, err = io.Copy(h, tr)
		require.NoError(t, err)
		out[name] = hex.EncodeToString(h.Sum(nil))
	}
}
