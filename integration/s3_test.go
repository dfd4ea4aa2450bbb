package integration

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/klauspost/pgzip"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/backup/s3store"
)

// s3Server is a real S3-protocol server on 127.0.0.1 (gofakes3, in memory) with the
// buckets "backups" and "evidence"; the worker reaches it with the credentials TestMain
// puts in the environment.
type s3Server struct {
	url string
}

func startS3(t *testing.T) *s3Server {
	t.Helper()
	mem := s3mem.New()
	require.NoError(t, mem.CreateBucket("backups"))
	require.NoError(t, mem.CreateBucket("evidence"))
	ts := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(ts.Close)
	return &s3Server{url: ts.URL}
}

// s3Credentials are what the test process and the workers it starts use for the server.
func s3Credentials(dir string) map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           "rewind-test",
		"AWS_SECRET_ACCESS_KEY":       "rewind-test-secret",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-aws-credentials"),
	}
}

// store opens a bucket under this env's prefix, as the worker sees it.
func (e *env) store(bucket string) backup.Store {
	e.t.Helper()
	s, err := s3store.New(context.Background(), s3store.Config{Bucket: bucket, Prefix: e.project + "/", Endpoint: e.s3.url, UsePathStyle: true, Region: "us-east-1", PartSize: 5 << 20})
	require.NoError(e.t, err)
	return s
}

// uploadBackup puts a local backup and its sidecar into the backups bucket.
func (e *env) uploadBackup(path string) {
	e.t.Helper()
	s := e.store("backups")
	for _, p := range []string{path, backup.SidecarName(path)} {
		f, err := os.Open(p)
		require.NoError(e.t, err)
		st, err := f.Stat()
		require.NoError(e.t, err)
		require.NoError(e.t, s.Upload(context.Background(), filepath.Base(p), f, st.Size(), backup.UploadCheckpoint{}, func(backup.UploadCheckpoint) {}))
		f.Close()
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
func archiveManifest(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	zr, err := pgzip.NewReader(r)
	require.NoError(t, err)
	return tarManifest(t, zr, 2)
}

// tarManifest hashes the regular files of a tar stream, dropping strip leading path parts.
func tarManifest(t *testing.T, r io.Reader, strip int) map[string]string {
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
