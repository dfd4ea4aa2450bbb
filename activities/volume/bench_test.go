package volume_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/integration/benchtable"
	"github.com/algotrendy/rewind/storage"
)

// TestMain lets the benchmark run one restore or snapshot in a child process of its own,
// so the child's peak RSS is the worker's cost of that transfer alone.
func TestMain(m *testing.M) {
	if step := os.Getenv("REWIND_BENCH_CHILD"); step != "" {
		if err := benchChild(step); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		benchtable.PrintPeakRSS()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func benchChild(step string) error {
	// REWIND_BENCH_CPUPROFILE=dir writes each child's CPU profile there, named by its step.
	if dir := os.Getenv("REWIND_BENCH_CPUPROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, step+"-"+os.Getenv("REWIND_BENCH_VOLUME")+".pprof"))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	c, err := engine.New(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	store, err := storage.NewFolder(os.Getenv("REWIND_BENCH_STORE"))
	if err != nil {
		return err
	}
	a := &volume.Activities{Engine: c, Evidence: store, Mover: os.Getenv("REWIND_BENCH_MOVER"), StateDir: os.Getenv("REWIND_BENCH_STATE")}
	switch step {
	case "restore-native", "restore-archive":
		a.ArchiveOnly = step == "restore-archive"
		in := volume.RestoreInput{Volume: os.Getenv("REWIND_BENCH_VOLUME"), Backup: os.Getenv("REWIND_BENCH_BACKUP"), Layout: "runbook", SHA256: os.Getenv("REWIND_BENCH_SHA256")}
		if v := os.Getenv("REWIND_BENCH_BATCH"); v != "" {
			in.BatchBytes, _ = strconv.ParseInt(v, 10, 64)
		}
		var res volume.RestoreResult
		if res, err = a.RestoreVolume(ctx, in); err == nil && res.Transfer != strings.TrimPrefix(step, "restore-") {
			err = fmt.Errorf("restored %s, not %s: %s", res.Transfer, step, res.TransferWhy)
		}
		if err == nil {
			fmt.Printf("mover-peak-rss=%d\n", res.MoverPeakRSS)
		}
	case "prepare-mover":
		var why string
		if why, err = volume.PrepareMover(ctx, a); err == nil && why != "" {
			err = errors.New(why)
		}
	case "snapshot":
		_, err = a.SnapshotVolume(ctx, volume.SnapshotInput{Volume: os.Getenv("REWIND_BENCH_VOLUME"), Name: "snapshot.tar.gz"})
	default:
		err = fmt.Errorf("unknown step %q", step)
	}
	return err
}

// bareHost is a PATH holding only gzip, as a Debian host has it before isal and pigz.
func bareHost(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	gzip, err := exec.LookPath("gzip")
	require.NoError(b, err)
	require.NoError(b, os.Symlink(gzip, filepath.Join(dir, "gzip")))
	return dir
}

// run times a command and returns its wall time, peak RSS in bytes (a bench child's own)
// and output.
func run(b *testing.B, cmd *exec.Cmd) (time.Duration, int64, string) {
	b.Helper()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "%s", out)
	return time.Since(start), benchtable.ChildPeakRSS(cmd, string(out)), string(out)
}

// writeVolumeData writes size bytes of half-compressible files (like database columns)
// under dir/<volume>/_data/db, the runbook's layout.
func writeVolumeData(b *testing.B, dir, volume string, size int64) {
	b.Helper()
	db := filepath.Join(dir, volume, "_data", "db")
	require.NoError(b, os.MkdirAll(db, 0o755))
	const fileSize = 4 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, fileSize)
	for i := int64(0); i*fileSize < size; i++ {
		for j := range buf {
			buf[j] = byte(rng.Uint32()&0x0f) | 0x40
		}
		require.NoError(b, os.WriteFile(filepath.Join(db, fmt.Sprintf("col-%04d.d", i)), buf, 0o644))
	}
}

// BenchmarkTransfers restores and snapshots volumes of 256 MiB and 1 GiB and prints time
// and peak RSS beside the runbook's own tar commands on the same data, in the same run:
// the restore through Rewind's mover and through the engine's archive API against
// `tar -xzf` into the mountpoint, the snapshot against `tar -czf`.
// Run with: make bench (go test -run '^$' -bench Transfers -benchtime 1x ./activities/volume).
func BenchmarkTransfers(b *testing.B) {
	c, err := engine.New(context.Background())
	if err != nil {
		b.Skipf("no Docker Engine: %v", err)
	}
	defer c.Close()
	mover := moverBinary(b)
	// The worker builds the mover's image as it starts; so does the bench, untimed.
	prepare := exec.Command(os.Args[0], "-test.run=^$")
	prepare.Env = append(os.Environ(), "REWIND_BENCH_CHILD=prepare-mover", "REWIND_BENCH_MOVER="+mover, "REWIND_BENCH_STORE="+b.TempDir())
	out, err := prepare.CombinedOutput()
	require.NoError(b, err, "%s", out)
	for _, size := range []int64{256 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			for range b.N {
				benchOnce(b, c, mover, size)
			}
		})
	}
}

func benchOnce(b *testing.B, c *client.Client, mover string, size int64) {
	ctx := context.Background()
	work := b.TempDir()
	volume := uniqueName("rwbench_")
	writeVolumeData(b, filepath.Join(work, "src"), volume, size)

	backup := filepath.Join(work, "questdb_backup_20261126_000000.tar.gz")
	tarC, _, _ := run(b, exec.Command("tar", "-czf", backup, "-C", filepath.Join(work, "src"), volume))
	sumCmd := exec.Command("sha256sum", backup)
	sha, err := sumCmd.Output()
	require.NoError(b, err)

	volumes := []string{volume + "_tar", volume + "_native", volume + "_archive", volume + "_bare"}
	for _, v := range volumes {
		_, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v})
		require.NoError(b, err)
	}
	defer func() {
		for _, v := range volumes {
			removeVolume(c, v)
		}
	}()
	// The runbook's restore: tar into the mountpoint, as root on the host.
	tarVol, err := c.VolumeInspect(ctx, volumes[0], client.VolumeInspectOptions{})
	require.NoError(b, err)
	child := func(step, v string, environ ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "REWIND_BENCH_CHILD="+step, "REWIND_BENCH_VOLUME="+v, "REWIND_BENCH_MOVER="+mover,
			"REWIND_BENCH_STATE="+filepath.Join(work, "state-"+v),
			"REWIND_BENCH_BACKUP="+backup, "REWIND_BENCH_SHA256="+string(sha[:64]), "REWIND_BENCH_STORE="+filepath.Join(work, "store-"+v))
		cmd.Env = append(cmd.Env, environ...)
		return cmd
	}
	// The worker's own PATH hides igzip and pigz: a Debian host as it comes (gzip only).
	bare := "PATH=" + bareHost(b)
	// Alternating, so neither side always gets the warmer page cache.
	tarX, _, _ := run(b, exec.Command("tar", "-xzf", backup, "-C", filepath.Dir(tarVol.Volume.Mountpoint), "--strip-components=1"))
	native, nativeRSS, out := run(b, child("restore-native", volumes[1]))
	var moverRSS int64
	_, err = fmt.Sscanf(out[strings.Index(out, "mover-peak-rss="):], "mover-peak-rss=%d", &moverRSS)
	require.NoError(b, err, "%s", out)
	archived, archiveRSS, _ := run(b, child("restore-archive", volumes[2]))
	snapshot, snapshotRSS, _ := run(b, child("snapshot", volumes[1]))
	bareRestore, bareRSS, _ := run(b, child("restore-native", volumes[3], bare))
	bareSnapshot, bareSnapshotRSS, _ := run(b, child("snapshot", volumes[3], bare))

	mib := fmt.Sprintf("%d MiB", size>>20)
	goal := size == 1<<30
	// One row, both columns: the host's tools, then hidden (zero where not measured).
	row := func(measure string, rewind, hidden, runbook time.Duration, goalText string, limit float64) {
		r, h := rewind.Seconds()/runbook.Seconds(), hidden.Seconds()/runbook.Seconds()
		benchtable.Raw(b, measure, rewind.Seconds(), hidden.Seconds(), runbook.Seconds(), r, h)
		row := benchtable.Row{Measure: measure, Rewind: benchtable.Seconds(rewind), Runbook: benchtable.Seconds(runbook), Ratio: r, Met: r <= limit}
		if hidden > 0 {
			row.Hidden, row.HiddenRatio, row.Met = benchtable.Seconds(hidden), h, row.Met && h <= limit
		}
		if goal {
			row.Goal = goalText
		}
		benchtable.Add(b, row)
	}
	tools := archive.Decompressor() + "/" + archive.NewGzipper().Tool()
	row("restore "+mib+", Rewind's mover (checksum compared; "+tools+" / go) vs `tar -xzf`", native, bareRestore, tarX, "≤ 0.8×", 0.8)
	row("restore "+mib+", archive API fallback (checksum compared) vs `tar -xzf`", archived, 0, tarX, "", 0)
	row("forensic snapshot "+mib+" (gzip, store, re-read; "+tools+" / go) vs `tar -czf`", snapshot, bareSnapshot, tarC, "≤ 0.3×", 0.3)
	for _, m := range []struct {
		what        string
		rss, hidden int64
	}{{"worker, restore", nativeRSS, bareRSS}, {"mover (helper container), restore", moverRSS, 0}, {"worker, archive API restore", archiveRSS, 0}, {"worker, snapshot", snapshotRSS, bareSnapshotRSS}} {
		benchtable.Raw(b, "peak RSS "+m.what+" "+mib, m.rss, m.hidden)
		row := benchtable.Row{Measure: "peak RSS of the " + m.what + " of " + mib, Rewind: benchtable.MiB(m.rss), Goal: "≤ 64 MiB", Met: m.rss <= 64<<20}
		if m.hidden > 0 {
			row.Hidden, row.Met = benchtable.MiB(m.hidden), row.Met && m.hidden <= 64<<20
		}
		benchtable.Add(b, row)
	}
	b.ReportMetric(bareRestore.Seconds()/tarX.Seconds(), "hidden/tar-xzf")
	b.ReportMetric(bareSnapshot.Seconds()/tarC.Seconds(), "hidden-snapshot/tar-czf")
	b.ReportMetric(native.Seconds()/tarX.Seconds(), "native/tar-xzf")
	b.ReportMetric(archived.Seconds()/tarX.Seconds(), "archive/tar-xzf")
	b.ReportMetric(snapshot.Seconds()/tarC.Seconds(), "snapshot/tar-czf")
}
