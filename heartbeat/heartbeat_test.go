package heartbeat_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/heartbeat"
)

// A restore reads the backup in one goroutine and reports how far it got from another:
// N must be safe to call while Read runs (go test -race fails here otherwise).
func TestReaderCountCanBeReadWhileAnotherGoroutineReads(t *testing.T) {
	data := bytes.Repeat([]byte("rewind"), 1<<16)
	r := &heartbeat.Reader{R: bytes.NewReader(data), Ctx: context.Background(), From: 100}
	done := make(chan error)
	go func() {
		_, err := io.Copy(io.Discard, io.LimitReader(r, int64(len(data))))
		done <- err
	}()
	var last int64
	for waiting := true; waiting; {
		select {
		case err := <-done:
			require.NoError(t, err)
			waiting = false
		default:
			n := r.N()
			require.GreaterOrEqual(t, n, last, "the count only grows")
			last = n
		}
	}
	require.Equal(t, int64(100+len(data)), r.N(), "From plus every byte read")
}

func TestReaderStopsWhenItsContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &heartbeat.Reader{R: bytes.NewReader([]byte("data")), Ctx: ctx}
	n, err := r.Read(make([]byte, 4))
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, n)
	require.Zero(t, r.N())
}
