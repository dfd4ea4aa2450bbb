package volume

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/volume/mover"
)

// moverAcking is a running mover resumed at entry skip whose acks are already in, with
// what it checkpointed and the batches it counted.
type moverAcking struct {
	*runningMover
	saved   []int
	bytes   int64
	batches [][2]int
}

func newMoverAcking(ctx context.Context, skip int, acks ...mover.Ack) *moverAcking {
	m := &moverAcking{}
	a := &Activities{onBatch: func(from, to int) { m.batches = append(m.batches, [2]int{from, to}) }}
	m.runningMover = &runningMover{a: a, ctx: ctx, consumed: skip, acks: make(chan mover.Ack, len(acks)),
		saved: func(consumed int, n int64) error { m.saved, m.bytes = append(m.saved, consumed), m.bytes+n; return nil }}
	for _, ack := range acks {
		m.acks <- ack
	}
	close(m.acks)
	return m
}

func TestEachAckOfTheMoverIsCheckpointedAndAStoppedBatchIsNot(t *testing.T) {
	m := newMoverAcking(context.Background(), 6,
		mover.Ack{Index: 8, Bytes: 3000},
		mover.Ack{Index: 11, Bytes: 3000},
		mover.Ack{Index: 13, Bytes: 1500, Error: "no space left on device"})
	require.NoError(t, m.drain(true))
	require.Equal(t, []int{9, 12}, m.saved, "each acked batch is checkpointed at the entry after it")
	require.Equal(t, int64(6000), m.bytes, "the stopped batch's bytes are not counted")
	require.Equal(t, [][2]int{{6, 9}, {9, 12}}, m.batches, "the resumed mover's batches start at the checkpoint")
	require.False(t, m.done)
}

func TestACancelledRestoreCheckpointsNoAckAfterTheCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := newMoverAcking(ctx, 0, mover.Ack{Index: 2, Bytes: 3000})
	require.ErrorIs(t, m.drain(true), context.Canceled)
	require.Empty(t, m.saved, "the retry writes that batch again, so it is not on record")
}
