package volume_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/checkpoint"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/meter"
)

func TestSnapshotRestoresToTheSameBytesAndBothAreIdempotent(t *testing.T) {
	c := needEngine(t)
	a, store := newActivities(t, c)
	env := activityEnv(a)
	src := newVolume(t, c, nil)
	files := []file{
		{name: "db/"},
		{name: "db/market.sqlite", body: randomBytes(3 << 20)},
		{name: "db/wal/0001", body: []byte("wal")},
		{name: "db/current", link: "wal/0001"},
		{name: "conf.txt", body: []byte("k=v\n")},
	}
	fill(t, c, src, files)
	want := describe(files)
	require.Equal(t, want, contents(t, c, src))

	in := volume.SnapshotInput{Volume: src, Name: "incidents/20261126/rewind-prod/failed_deployment_" + src + ".tar.gz"}
	v, err := env.ExecuteActivity(a.SnapshotVolume, in)
	require.NoError(t, err)
	var proof volume.SnapshotProof
	require.NoError(t, v.Get(&proof))
	require.Equal(t, src, proof.Volume)
	require.Len(t, proof.SHA256, 64)

	sidecar, err := os.ReadFile(store.Location(strings.TrimSuffix(in.Name, ".tar.gz") + ".sha256"))
	require.NoError(t, err)
	require.Equal(t, proof.SHA256+"  failed_deployment_"+src+".tar.gz\n", string(sidecar), "sha256sum -c reads the sidecar")

	v, err = env.ExecuteActivity(a.SnapshotVolume, in)
	require.NoError(t, err)
	var again volume.SnapshotProof
	require.NoError(t, v.Get(&again))
	require.Equal(t, proof, again, "a second snapshot finds the first one")

	dst := newVolume(t, c, nil)
	restore := volume.RestoreInput{Volume: dst, Backup: store.Location(in.Name), Layout: "runbook"}
	for range 2 {
		_, err = env.ExecuteActivity(a.RestoreVolume, restore)
		require.NoError(t, err)
		require.Equal(t, want, contents(t, c, dst), "the restored volume equals the snapshotted one")
	}
}

func TestRestoreRefusesEscapingEntriesAndWritesNothingOutsideTheVolume(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	for _, tc := range []struct {
		name string
		evil file
		want string
	}{
		{"dot-dot", file{name: "../etc/passwd", body: []byte("root::0:0")}, `"../etc/passwd"`},
		{"absolute", file{name: "/abs", body: []byte("x")}, `"/abs"`},
		{"escaping symlink", file{name: "v/_data/db/evil", link: "../../../etc"}, `"v/_data/db/evil"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol := newVolume(t, c, nil)
			backup := backupFile(t, []file{
				{name: "v/_data/db/", body: nil},
				{name: "v/_data/db/market.sqlite", body: []byte("good data before the bad entry")},
				tc.evil,
			})
			_, err := env.ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: vol, Backup: backup, Layout: "runbook"})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want, "the message names the entry")
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, err, &appErr)
			require.Equal(t, failure.UnsafeEntry, appErr.Type())
			require.True(t, appErr.NonRetryable())
			// Restores go into a staging volume of the run, which the rollback removes when
			// its backup is refused: only the entries before the bad one are there.
			require.NotContains(t, contents(t, c, vol), "evil")
		})
	}
}

func TestRestoreRefusesDamagedAndOversizedBackups(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	vol := newVolume(t, c, nil)
	good := backupFile(t, []file{{name: "v/_data/big", body: randomBytes(1 << 20)}})
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	truncated := good + ".truncated.tar.gz"
	require.NoError(t, os.WriteFile(truncated, raw[:len(raw)/2], 0o600))

	_, err = env.ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: vol, Backup: truncated, Layout: "runbook"})
	require.ErrorContains(t, err, "tar -tzf")
	_, err = env.ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: vol, Backup: good, Layout: "runbook", MaxBytes: 1000})
	require.ErrorContains(t, err, "BackupTooLarge")
	_, err = env.ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: vol, Backup: good + ".missing", Layout: "runbook"})
	require.ErrorContains(t, err, "no such file")
	_, err = env.ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: vol, Backup: good, Layout: "runbook", RequireChecksum: true})
	require.ErrorContains(t, err, "has no checksum sidecar, and the stack sets require_checksum")

	_, err = env.ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: vol, Backup: good, Layout: "runbook", SHA256: strings.Repeat("0", 64)})
	require.ErrorContains(t, err, "its checksum says 0000")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, failure.ChecksumMismatch, appErr.Type())
}

func TestRestoreCancelledHalfWayResumesWithoutRewritingCountedEntries(t *testing.T) {
	for _, transfer := range []string{volume.TransferNative, volume.TransferArchive} {
		t.Run(transfer, func(t *testing.T) { restoreCancelledHalfWay(t, transfer) })
	}
}

func restoreCancelledHalfWay(t *testing.T, transfer string) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	a.ArchiveOnly = transfer == volume.TransferArchive
	files := oneMiBParts(24)
	backup := backupFile(t, files)
	vol := newVolume(t, c, nil)
	in := volume.RestoreInput{Volume: vol, Backup: backup, Layout: "runbook", BatchBytes: 4 << 20}

	var mu sync.Mutex
	var written [][]string

	// First attempt: cancelled after its third whole batch, as a crash would end it.
	ctx, cancel := context.WithCancel(context.Background())
	first := activityEnv(a)
	first.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
	var last checkpoint.Transfer
	first.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p checkpoint.Transfer
		if details.Get(&p) == nil && p.Entries > 0 {
			mu.Lock()
			last = p
			mu.Unlock()
		}
	})
	// The backup holds the files and nothing else: entry i is files[i].
	volume.SetOnBatch(a, func(from, to int) {
		mu.Lock()
		defer mu.Unlock()
		var entries []string
		for _, f := range files[from:to] {
			entries = append(entries, strings.TrimPrefix(f.name, "v/_data/"))
		}
		written = append(written, entries)
		if len(written) == 3 {
			cancel()
		}
	})
	_, err := first.ExecuteActivity(a.RestoreVolume, in)
	require.Error(t, err, "the first attempt was cancelled half-way")
	mu.Lock()
	sentFirst := map[string]bool{}
	for _, batch := range written {
		for _, e := range batch {
			sentFirst[e] = true
		}
	}
	saved := last
	written = nil
	mu.Unlock()
	require.Equal(t, 12, saved.Entries, "three whole batches of four 1 MiB entries were checkpointed")
	require.Less(t, saved.Entries, len(files), "the cancel came before the end")
	require.Positive(t, saved.Entries)
	counted := map[string]bool{}
	for _, f := range files[:saved.Entries] {
		name := strings.TrimPrefix(f.name, "v/_data/")
		counted[name] = true
		require.True(t, sentFirst[name], "the heartbeat counts only entries already written: %s", name)
	}

	// The retry gets the first heartbeat's details, as Temporal hands over throttled ones,
	// and finds the last whole batch in the host's checkpoint file.
	second := activityEnv(a)
	second.SetHeartbeatDetails(checkpoint.Transfer{})
	v, err := second.ExecuteActivity(a.RestoreVolume, in)
	require.NoError(t, err)
	var res volume.RestoreResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, saved.Entries, res.ResumedAt)
	require.Equal(t, len(files), res.Entries)
	require.Equal(t, transfer, res.Transfer)
	var resent int
	for _, batch := range written {
		for _, e := range batch {
			require.False(t, counted[e], "entry %s was counted by the heartbeat and written again", e)
			resent++
		}
	}
	require.Equal(t, len(files)-saved.Entries, resent, "the retry wrote exactly the entries not yet counted")

	want := map[string]string{}
	for _, f := range files {
		want[strings.TrimPrefix(f.name, "v/_data/")] = sum(f.body)
	}
	require.Equal(t, want, contents(t, c, vol), "the volume equals the backup, file for file")
}

func TestRemoveVolumeNeedsItsSnapshotAndRemovesTheContainersHoldingIt(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	labels := map[string]string{"com.docker.compose.project": "rwtest", "com.docker.compose.volume": "questdb_data"}
	vol := newVolume(t, c, labels)
	fill(t, c, vol, []file{{name: "db/market.sqlite", body: []byte("data")}})

	info, err := env.ExecuteActivity(a.InspectVolume, volume.VolumeInput{Volume: vol})
	require.NoError(t, err)
	var before volume.VolumeInfo
	require.NoError(t, info.Get(&before))
	require.Equal(t, labels, before.Labels)

	_, err = env.ExecuteActivity(a.RemoveVolume, volume.RemoveVolumeInput{Volume: vol})
	require.ErrorContains(t, err, "refuse to remove volume "+vol+" without a verified snapshot")
	_, err = c.VolumeInspect(context.Background(), vol, client.VolumeInspectOptions{})
	require.NoError(t, err, "the volume is still there")

	v, err := env.ExecuteActivity(a.SnapshotVolume, volume.SnapshotInput{Volume: vol, Name: "snap/" + vol + ".tar.gz"})
	require.NoError(t, err)
	var proof volume.SnapshotProof
	require.NoError(t, v.Get(&proof))
	forged := proof
	forged.Bytes++
	_, err = env.ExecuteActivity(a.RemoveVolume, volume.RemoveVolumeInput{Volume: vol, Snapshot: forged})
	require.ErrorContains(t, err, "is not stored as recorded")

	for range 2 {
		_, err = env.ExecuteActivity(a.RemoveVolume, volume.RemoveVolumeInput{Volume: vol, Snapshot: proof})
		require.NoError(t, err)
	}
	_, err = c.VolumeInspect(context.Background(), vol, client.VolumeInspectOptions{})
	require.Error(t, err, "the volume is gone, the containers that held it too")

	for range 2 {
		v, err = env.ExecuteActivity(a.CreateVolume, before)
		require.NoError(t, err)
		var created volume.VolumeInfo
		require.NoError(t, v.Get(&created))
		require.Equal(t, labels, created.Labels, "compose adopts the volume by its labels")
	}
}

func TestSnapshotInterruptedHalfWayGoesOnFromItsLastSegment(t *testing.T) {
	c := needEngine(t)
	a, store := newActivities(t, c)
	a.BatchBytes = 1 << 20
	src := newVolume(t, c, nil)
	var files []file
	for i := range 8 {
		files = append(files, file{name: "db/part-" + string(rune('a'+i)), body: randomBytes(1 << 20)})
	}
	fill(t, c, src, files)
	in := volume.SnapshotInput{Volume: src, Name: "incidents/20261126/rewind-prod/failed_deployment_" + src + ".tar.gz"}

	// First attempt: stopped once 3.5 MiB are staged, as a crash in the middle would stop it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var firstSent int64
	ctx = meter.With(ctx, func(kind string, _, total int64) {
		if kind == meter.Snapshot {
			firstSent = total
			if total >= 7<<19 {
				cancel()
			}
		}
	})
	first := activityEnv(a)
	first.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
	_, err := first.ExecuteActivity(a.SnapshotVolume, in)
	require.Error(t, err, "the first attempt was stopped half-way")
	require.NotZero(t, firstSent)

	var secondSent int64
	second := activityEnv(a)
	second.SetWorkerOptions(worker.Options{BackgroundActivityContext: meter.With(context.Background(), func(kind string, moved, _ int64) {
		if kind == meter.Snapshot {
			secondSent += moved
		}
	})})
	v, err := second.ExecuteActivity(a.SnapshotVolume, in)
	require.NoError(t, err)
	var proof volume.SnapshotProof
	require.NoError(t, v.Get(&proof))
	resent := firstSent + secondSent - proof.Bytes
	t.Logf("first attempt staged %d bytes, the retry %d, snapshot %d: %d sent again", firstSent, secondSent, proof.Bytes, resent)
	require.Less(t, secondSent, proof.Bytes, "the retry kept what the first attempt staged")
	require.LessOrEqual(t, resent, int64(2<<20), "at most one segment (1 MiB of entries, compressed) is staged again")

	dst := newVolume(t, c, nil)
	_, err = activityEnv(a).ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: dst, Backup: store.Location(in.Name), Layout: "runbook"})
	require.NoError(t, err)
	require.Equal(t, describe(files), contents(t, c, dst), "the snapshot of several gzip members restores to the volume it was taken of")
}

// TestCopyCancelledHalfWayResumesAfterItsCheckpoint: a copy stopped after three batches
// goes on from its checkpoint, natively and through the archive API; no batch of the
// retry writes an entry the checkpoint counted, and the target equals the source.
func TestCopyCancelledHalfWayResumesAfterItsCheckpoint(t *testing.T) {
	for _, transfer := range []string{volume.TransferNative, volume.TransferArchive} {
		t.Run(transfer, func(t *testing.T) {
			c := needEngine(t)
			a, _ := newActivities(t, c)
			a.ArchiveOnly = transfer == volume.TransferArchive
			files := oneMiBParts(24)
			staging, live := newVolume(t, c, nil), newVolume(t, c, nil)
			_, err := activityEnv(a).ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: staging, Backup: backupFile(t, files), Layout: "runbook"})
			require.NoError(t, err)
			in := volume.CopyInput{From: staging, To: live, Run: "rewind-t/run", BatchBytes: 4 << 20}

			var mu sync.Mutex
			var batches [][2]int
			ctx, cancel := context.WithCancel(context.Background())
			volume.SetOnBatch(a, func(from, to int) {
				mu.Lock()
				defer mu.Unlock()
				batches = append(batches, [2]int{from, to})
				if len(batches) == 3 {
					cancel()
				}
			})
			first := activityEnv(a)
			first.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
			_, err = first.ExecuteActivity(a.CopyVolume, in)
			require.Error(t, err, "the first attempt was cancelled half-way")
			mu.Lock()
			checkpoint := batches[2][1]
			batches = nil
			mu.Unlock()

			v, err := activityEnv(a).ExecuteActivity(a.CopyVolume, in)
			require.NoError(t, err)
			var res volume.RestoreResult
			require.NoError(t, v.Get(&res))
			require.Equal(t, transfer, res.Transfer, res.TransferWhy)
			require.Equal(t, checkpoint, res.ResumedAt, "the retry goes on after the last acked batch")
			require.Greater(t, res.Entries, checkpoint)
			for _, b := range batches {
				require.GreaterOrEqual(t, b[0], checkpoint, "a batch of the retry wrote entries the checkpoint counted: %v", b)
			}
			require.Equal(t, contents(t, c, staging), contents(t, c, live), "the target equals the source, file for file")
		})
	}
}

// oneMiBParts are n files of 1 MiB of random bytes in the runbook's layout, one backup
// entry each.
func oneMiBParts(n int) []file {
	var files []file
	for i := range n {
		files = append(files, file{name: "v/_data/db/part-" + string(rune('a'+i)), body: randomBytes(1 << 20)})
	}
	return files
}

// TestACopysMoverStopsWhenItsWorkerIsGone: a worker killed mid-copy ends its attach; the
// mover sees its stdin close and stops, instead of writing on beside the next attempt's
// mover. The source is a 64 GiB sparse file, which no mover copies before that.
func TestACopysMoverStopsWhenItsWorkerIsGone(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	from, to := newVolume(t, c, nil), newVolume(t, c, nil)
	v, err := c.VolumeInspect(context.Background(), from, client.VolumeInspectOptions{})
	require.NoError(t, err)
	f, err := os.Create(filepath.Join(v.Volume.Mountpoint, "huge.sparse"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(64<<30))
	require.NoError(t, f.Close())

	id, err := volume.StartCopyAndLeave(context.Background(), a, from, to)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard against a hang, not a timing
	defer cancel()
	wait := c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-wait.Result:
		require.Equal(t, int64(3), res.StatusCode, "the mover stopped, it did not finish the copy")
	case err := <-wait.Error:
		require.NoError(t, err, "the mover kept running after its worker was gone")
	}
	logs, err := c.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStderr: true})
	require.NoError(t, err)
	var stderr strings.Builder
	_, err = stdcopy.StdCopy(io.Discard, &stderr, logs)
	logs.Close()
	require.NoError(t, err)
	require.Contains(t, stderr.String(), "the worker that started this mover is gone")
}
