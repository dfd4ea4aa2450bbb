package storage

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A whole file gets its final name without its bytes being sent again, and a retry of a
// rename that already happened is done.
func TestRenameMovesAWholeFileToItsNameInEachStore(t *testing.T) {
	s := startS3(t)
	bucket, err := NewS3(context.Background(), Location{Bucket: "backups", Prefix: "questdb/", Endpoint: s.URL, UsePathStyle: true})
	require.NoError(t, err)
	folder, err := NewFolder(t.TempDir())
	require.NoError(t, err)
	for name, store := range map[string]interface {
		Store
		Renamer
	}{"s3": bucket, "folder": folder} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			require.NoError(t, store.Put(ctx, ".rewind-partial-b.tar.gz", strings.NewReader("whole")))
			before := s.Received.Load()
			require.NoError(t, store.Rename(ctx, ".rewind-partial-b.tar.gz", "b.tar.gz"))
			if name == "s3" {
				require.Less(t, s.Received.Load()-before, int64(len("whole")), "no bytes sent again")
			}
			_, err := store.Stat(ctx, ".rewind-partial-b.tar.gz")
			require.True(t, errors.Is(err, ErrNotFound), "the temporary name is gone: %v", err)
			r, err := store.Open(ctx, "b.tar.gz", 0)
			require.NoError(t, err)
			body, err := io.ReadAll(r)
			r.Close()
			require.NoError(t, err)
			require.Equal(t, "whole", string(body))
			require.NoError(t, store.Rename(ctx, ".rewind-partial-b.tar.gz", "b.tar.gz"), "a retry after the rename is done")
		})
	}
}
