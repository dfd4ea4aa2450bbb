package storage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A removed file is gone, its neighbour stays, and removing it again (a retry) is done.
func TestRemoveDeletesOneFileInEachStore(t *testing.T) {
	s := startS3(t)
	bucket, err := NewS3(context.Background(), Location{Bucket: "backups", Prefix: "questdb/", Endpoint: s.URL, UsePathStyle: true})
	require.NoError(t, err)
	folder, err := NewFolder(t.TempDir())
	require.NoError(t, err)
	for name, store := range map[string]interface {
		Store
		Remover
	}{"s3": bucket, "folder": folder} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			require.NoError(t, store.Put(ctx, "a.tar.gz", strings.NewReader("old")))
			require.NoError(t, store.Put(ctx, "b.tar.gz", strings.NewReader("new")))
			require.NoError(t, store.Remove(ctx, "a.tar.gz"))
			_, err := store.Stat(ctx, "a.tar.gz")
			require.True(t, errors.Is(err, ErrNotFound), "removed: %v", err)
			_, err = store.Stat(ctx, "b.tar.gz")
			require.NoError(t, err, "its neighbour stays")
			require.NoError(t, store.Remove(ctx, "a.tar.gz"), "a retry after the removal is done")
		})
	}
	require.Error(t, folder.Remove(context.Background(), "../escape"), "a name outside the folder is refused")
}
