package volume

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/volume/mover"
	"github.com/algotrendy/rewind/archive"
)

// failingReader fails every read with err, as a disk that cannot be read does.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// moverExited is a running mover that has already exited without acking anything.
func moverExited(ctx context.Context) *runningMover {
	acks, exited := make(chan mover.Ack), make(chan struct{})
	close(acks)
	close(exited)
	return &runningMover{a: &Activities{}, ctx: ctx, acks: acks, exited: exited, closeFIFO: func() {}, cleanup: func() {}}
}

// The gzip header is read from the backup before anything inflates: failing to read it
// says nothing of the backup, so the restore is retried rather than the backup refused.
func TestFeedDoesNotCallABackupItCouldNotReadCorrupt(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no igzip or pigz: the worker reads the header itself
	require.Equal(t, archive.GoGzip, archive.Decompressor())

	t.Run("read error", func(t *testing.T) {
		_, err := moverExited(context.Background()).feed(failingReader{syscall.EIO})
		var corrupt *archive.CorruptError
		require.False(t, errors.As(err, &corrupt), "got %v", err)
		require.ErrorIs(t, err, syscall.EIO)
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := moverExited(ctx).feed(failingReader{ctx.Err()})
		var corrupt *archive.CorruptError
		require.False(t, errors.As(err, &corrupt), "got %v", err)
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("not gzip", func(t *testing.T) {
		_, err := moverExited(context.Background()).feed(strings.NewReader("not a gzip stream, long enough to have a header"))
		var corrupt *archive.CorruptError
		require.ErrorAs(t, err, &corrupt, "a backup read whole but not gzip is damaged")
	})
}
