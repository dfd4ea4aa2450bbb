package volume

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/volume/mover"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/heartbeat"
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

// The Go path reads the backup in a goroutine of its own while feed reports progress:
// run with -race, this fails if the count is not safe to read meanwhile.
func TestFeedReportsTheBackupReadWhileItIsReadAhead(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	data := make([]byte, 8<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(data) // incompressible: the backup is as long
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	size := int64(gz.Len())

	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	sent := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, pr)
		sent <- n
	}()
	m := moverExited(context.Background())
	m.fifo, m.closeFIFO = pw, func() { pw.Close() }
	m.acks = make(chan mover.Ack, 1)
	m.acks <- mover.Ack{Index: 0, Done: true}
	close(m.acks)
	m.saved = func(int, int64) error { return nil }
	read := &heartbeat.Reader{R: &gz, Ctx: context.Background()}
	var seen []int64
	m.beat = func() { seen = append(seen, read.N()) }

	_, err = m.feed(read)
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), <-sent, "the mover got the whole stream")
	require.NotEmpty(t, seen)
	require.LessOrEqual(t, seen[len(seen)-1], size)
	require.Equal(t, size, read.N(), "the whole backup was read")
}
