package storage

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCreateTakesANameOnce runs the same race on both backends: of many writers creating
// one name at once exactly one wins, the others get ErrExists, and the stored body is the
// winner's, whole.
func TestCreateTakesANameOnce(t *testing.T) {
	stores := map[string]func(t *testing.T) Store{
		"folder": func(t *testing.T) Store {
			s, err := NewFolder(t.TempDir())
			require.NoError(t, err)
			return s
		},
		"s3": func(t *testing.T) Store {
			srv := startS3(t)
			s, err := NewS3(context.Background(), Location{Bucket: "backups", Prefix: "evidence/", Endpoint: srv.URL, UsePathStyle: true})
			require.NoError(t, err)
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			const key = "nonces/0123456789abcdef0123456789abcdef.json"
			const writers = 8
			var wg sync.WaitGroup
			errs := make([]error, writers)
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.Create(ctx, key, fmt.Appendf(nil, "writer %d", i))
				}()
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				if err == nil {
					require.Equal(t, -1, winner, "writers %d and %d both created %s", winner, i, key)
					winner = i
					continue
				}
				require.ErrorIs(t, err, ErrExists)
			}
			require.NotEqual(t, -1, winner, "one writer created it: %v", errs)

			rc, err := s.Open(ctx, key, 0)
			require.NoError(t, err)
			body, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("writer %d", winner), string(body))

			require.ErrorIs(t, s.Create(ctx, key, []byte("later")), ErrExists, "a later create is refused too")
			require.NoError(t, s.Create(ctx, "nonces/another.json", []byte("x")), "another name is free")
			listed, err := s.List(ctx, "nonces/")
			require.NoError(t, err)
			require.Len(t, listed, 2, "no temporary file is listed")
		})
	}
}
