package volume_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/checkpoint"
)

// These tests run the archive API's batching, checkpoints and resume against fakeEngine:
// twelve 1000-byte files, sent three to a batch.

const batchOfThree = 3000

func twelveFiles() []file {
	var files []file
	for i := range 12 {
		files = append(files, file{name: fmt.Sprintf("f%02d", i), body: randomBytes(1000)})
	}
	return files
}

// batchLog records the entries [from, to) of each batch a volume took, per attempt.
type batchLog struct {
	mu       sync.Mutex
	attempts [][][2]int
}

func (l *batchLog) next() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, nil)
}

func (l *batchLog) add(from, to int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := len(l.attempts) - 1
	l.attempts[last] = append(l.attempts[last], [2]int{from, to})
}

// requireEachEntryOnce checks that the batches of all attempts together wrote the entries
// [first, end) once each.
func (l *batchLog) requireEachEntryOnce(t *testing.T, first, end int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[int]int{}
	for _, batches := range l.attempts {
		for _, b := range batches {
			for i := b[0]; i < b[1]; i++ {
				seen[i]++
			}
		}
	}
	for i := first; i < end; i++ {
		require.Equal(t, 1, seen[i], "entry %d is in %d batches: %v", i, seen[i], l.attempts)
	}
	require.Len(t, seen, end-first, "batches wrote only the entries there are: %v", l.attempts)
}

// savedCheckpoint reads the one transfer checkpoint in the state folder (zero if none).
func savedCheckpoint(t *testing.T, stateDir, kind string) checkpoint.Transfer {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(stateDir, kind+"-*.json"))
	require.NoError(t, err)
	require.LessOrEqual(t, len(found), 1, "one checkpoint per transfer")
	var cp checkpoint.Transfer
	if len(found) == 1 {
		require.True(t, checkpoint.Load(found[0], &cp), "the checkpoint reads back")
	}
	return cp
}

// dropThirdBatch refuses the third batch sent, as a connection dropped there would.
func dropThirdBatch(n int) error {
	if n == 3 {
		return errors.New("connection reset by peer")
	}
	return nil
}

func requireEachWrittenOnce(t *testing.T, e *fakeEngine, vol string, want map[string][]byte) {
	t.Helper()
	files, writes := e.volume(vol)
	require.Equal(t, want, files, "the volume holds the source, file for file")
	for name, n := range writes {
		require.Equal(t, 1, n, "%s was written %d times", name, n)
	}
}

func TestARestoreResumedFromItsCheckpointWritesNoBatchTwice(t *testing.T) {
	ctx := context.Background()
	files := twelveFiles()
	e := newFakeEngine("db")
	a := &volume.Activities{Engine: e, StateDir: t.TempDir(), ArchiveOnly: true}
	var log batchLog
	volume.SetOnBatch(a, log.add)
	in := volume.RestoreInput{Volume: "db", Backup: backupFile(t, files), Layout: "flat", BatchBytes: batchOfThree}

	e.before = dropThirdBatch
	log.next()
	_, err := a.RestoreVolume(ctx, in)
	require.ErrorContains(t, err, "connection reset", "the first attempt ends at its third batch")
	require.Equal(t, 6, savedCheckpoint(t, a.StateDir, "restore").Entries, "two whole batches are checkpointed")

	e.before = nil
	log.next()
	res, err := a.RestoreVolume(ctx, in)
	require.NoError(t, err)
	require.Equal(t, 6, res.ResumedAt, "the retry goes on after the checkpointed batches")
	require.Equal(t, len(files), res.Entries)
	require.Equal(t, volume.TransferArchive, res.Transfer)
	log.requireEachEntryOnce(t, 0, len(files))
	want := map[string][]byte{}
	for _, f := range files {
		want[f.name] = f.body
	}
	requireEachWrittenOnce(t, e, "db", want)
}

func TestEachRestoreBatchIsCheckpointedBeforeTheNextIsSent(t *testing.T) {
	files := twelveFiles()
	e := newFakeEngine("db")
	a := &volume.Activities{Engine: e, StateDir: t.TempDir(), ArchiveOnly: true}
	var checkpointed []int
	e.before = func(int) error {
		checkpointed = append(checkpointed, savedCheckpoint(t, a.StateDir, "restore").Entries)
		return nil
	}
	backup := backupFile(t, files)
	res, err := a.RestoreVolume(context.Background(), volume.RestoreInput{Volume: "db", Backup: backup, Layout: "flat", BatchBytes: batchOfThree})
	require.NoError(t, err)
	require.Equal(t, []int{0, 3, 6, 9}, checkpointed, "as each batch goes out, the one before it is on record")

	b, err := os.ReadFile(backup)
	require.NoError(t, err)
	h := sha256.Sum256(b)
	done := savedCheckpoint(t, a.StateDir, "restore")
	require.True(t, done.Done, "the end is checkpointed")
	require.Equal(t, len(files), done.Entries)
	require.Equal(t, hex.EncodeToString(h[:]), done.SHA256)
	require.Equal(t, done.SHA256, res.SHA256)
}

func TestACopyResumesAfterItsLastCheckpointedBatch(t *testing.T) {
	ctx := context.Background()
	e := newFakeEngine("staging", "live")
	want := map[string][]byte{}
	for _, f := range twelveFiles() {
		want[f.name] = f.body
		e.volumes["staging"].files[f.name] = f.body
	}
	a := &volume.Activities{Engine: e, StateDir: t.TempDir(), ArchiveOnly: true}
	var log batchLog
	volume.SetOnBatch(a, log.add)
	in := volume.CopyInput{From: "staging", To: "live", BatchBytes: batchOfThree}

	// The engine's archive starts with the volume's root folder: entry 0; file i is i+1.
	e.before = dropThirdBatch
	log.next()
	_, err := a.CopyVolume(ctx, in)
	require.ErrorContains(t, err, "connection reset")
	require.Equal(t, 7, savedCheckpoint(t, a.StateDir, "copy").Entries, "two whole batches are checkpointed")

	e.before = nil
	log.next()
	res, err := a.CopyVolume(ctx, in)
	require.NoError(t, err)
	require.Equal(t, 7, res.ResumedAt)
	require.Equal(t, len(want)+1, res.Entries)
	require.Equal(t, volume.TransferArchive, res.Transfer)
	log.requireEachEntryOnce(t, 0, len(want)+1)
	requireEachWrittenOnce(t, e, "live", want)

	again, err := a.CopyVolume(ctx, in)
	require.NoError(t, err, "a copy retried after it ended")
	require.Equal(t, res.Entries, again.Entries)
	requireEachWrittenOnce(t, e, "live", want)
}
