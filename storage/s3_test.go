package storage

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/storage/s3test"
)

func TestMultipartUploadInterruptedResumesFromTheStoredParts(t *testing.T) {
	s := startS3(t)
	const part = 5 << 20
	store, err := NewS3(context.Background(), Location{Bucket: "backups", Prefix: "questdb/", Endpoint: s.URL, UsePathStyle: true, PartSize: part})
	require.NoError(t, err)
	src := filepath.Join(t.TempDir(), "snap.tar.gz")
	body := make([]byte, 3*part+1234)
	_, _ = rand.Read(body)
	require.NoError(t, os.WriteFile(src, body, 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	var lastSaved UploadCheckpoint
	err = store.PutFile(ctx, "snap.tar.gz", src, UploadCheckpoint{}, func(cp UploadCheckpoint) {
		lastSaved = cp
		if len(cp.Parts) == 2 {
			cancel()
		}
	})
	require.Error(t, err, "the first upload was cut off after two parts")
	require.Len(t, lastSaved.Parts, 2)

	// The retry knows only the upload ID, as from a heartbeat that lagged behind.
	before := s.Received.Load()
	err = store.PutFile(context.Background(), "snap.tar.gz", src, UploadCheckpoint{UploadID: lastSaved.UploadID}, func(UploadCheckpoint) {})
	require.NoError(t, err)
	resent := s.Received.Load() - before
	require.Less(t, resent, int64(len(body)-2*part+4096), "the two stored parts were not sent again")
	require.GreaterOrEqual(t, resent, int64(len(body)-2*part))

	r, err := store.Open(context.Background(), "snap.tar.gz", 0)
	require.NoError(t, err)
	defer r.Close()
	stored, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, body, stored)
}

func startS3(t testing.TB) *s3test.Server {
	s3test.UseCredentials(t)
	return s3test.Start(t, "backups")
}
