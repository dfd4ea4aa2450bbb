package docker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/storage"
)

// TestMain lets the benchmark run one restore or snapshot in a child process of its own,
// so the child's peak RSS is the worker's cost of that transfer alone.
func TestMain(m *testing.M) {
	if step := os.Getenv("REWIND_BENCH_CHILD"); step != "" {
		if err := benchChild(step); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func benchChild(step string) error {
	ctx := context.Background()
	c, err := docker.NewEngine(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	store, err := storage.NewFolder(os.Getenv("REWIND_BENCH_STORE"))
	if err != nil {
		return err
	}
	a := &docker.Activities{Engine: c, Evidence: store}
	switch step {
	case "restore", "restore-verified":
		in := docker.RestoreInput{Volume: os.Getenv("REWIND_BENCH_VOLUME"), Backup: os.Getenv("REWIND_BENCH_BACKUP"), Layout: "runbook"}
		if v := os.Getenv("REWIND_BENCH_BATCH"); v != "" {
			in.BatchBytes, _ = strconv.ParseInt(v, 10, 64)
		}
		if step == "restore-verified" {
			in.SHA256 = os.Getenv("REWIND_BENCH_SHA256")
		}
		_, err = a.RestoreVolume(ctx, in)
	case "snapshot":
		_, err = a.SnapshotVolume(ctx, docker.SnapshotInput{Volume: os.Getenv("REWIND_BENCH_VOLUME"), Name: "snapshot.tar.gz"})
	default:
		err = fmt.Errorf("unknown step %q", step)
	}
	return err
}

// run times a command and returns its wall time and peak RSS in MiB.
func run(b *testing.B, cmd *exec.Cmd) (time.Duration, float64) {
	b.Helper()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "%s", out)
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	return time.Since(start), rss
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

// BenchmarkTransfers restores and snapshots volumes of 256 MiB and 1 GiB through the Engine
// API and prints time and peak RSS beside the runbook's own tar commands on the same data.
// Run with: make bench (go test -run '^$' -bench Transfers -benchtime 1x ./activities/docker).
func BenchmarkTransfers(b *testing.B) {
	c, err := docker.NewEngine(context.Background())
	if err != nil {
		b.Skipf("no Docker Engine: %v", err)
	}
	defer c.Close()
	for _, size := range []int64{256 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			for range b.N {
				benchOnce(b, c, size)
			}
		})
	}
}

func benchOnce(b *testing.B, c *client.Client, size int64) {
	ctx := context.Background()
	work := b.TempDir()
	volume := uniqueName("rwbench_")
	writeVolumeData(b, filepath.Join(work, "src"), volume, size)

	backup := filepath.Join(work, "questdb_backup_20261126_000000.tar.gz")
	tarC, _ := run(b, exec.Command("tar", "-czf", backup, "-C", filepath.Join(work, "src"), volume))
	dest := filepath.Join(work, "tar-restore", volume)
	require.NoError(b, os.MkdirAll(dest, 0o755))
	tarX, _ := run(b, exec.Command("tar", "-xzf", backup, "-C", dest, "--strip-components=1"))
	sumCmd := exec.Command("sha256sum", backup)
	sha, err := sumCmd.Output()
	require.NoError(b, err)

	volumes := []string{volume + "_checked", volume + "_verified"}
	for _, v := range volumes {
		_, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v})
		require.NoError(b, err)
	}
	defer func() {
		for _, v := range volumes {
			_, _ = c.ContainerRemove(ctx, "rewind-helper-"+v, client.ContainerRemoveOptions{Force: true})
			_, _ = c.VolumeRemove(ctx, v, client.VolumeRemoveOptions{Force: true})
		}
	}()
	child := func(step, v string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "REWIND_BENCH_CHILD="+step, "REWIND_BENCH_VOLUME="+v,
			"REWIND_BENCH_BACKUP="+backup, "REWIND_BENCH_SHA256="+string(sha[:64]), "REWIND_BENCH_STORE="+filepath.Join(work, "store"))
		return cmd
	}
	checked, checkedRSS := run(b, child("restore", volumes[0]))
	verified, verifiedRSS := run(b, child("restore-verified", volumes[1]))
	snapshot, snapshotRSS := run(b, child("snapshot", volumes[1]))

	b.ReportMetric(verifiedRSS, "restore-peak-MiB")
	b.ReportMetric(snapshotRSS, "snapshot-peak-MiB")
	b.ReportMetric(verified.Seconds()/tarX.Seconds(), "restore/tar-xzf")
	b.ReportMetric(checked.Seconds()/tarX.Seconds(), "checked-restore/tar-xzf")
	b.ReportMetric(snapshot.Seconds()/tarC.Seconds(), "snapshot/tar-czf")
	b.Logf("%4d MiB  tar -xzf %6.2fs | restore hashing and comparing its checksum %6.2fs = %.2fx, peak RSS %3.0f MiB | restore without a checksum to compare %6.2fs = %.2fx, peak RSS %3.0f MiB",
		size>>20, tarX.Seconds(), verified.Seconds(), verified.Seconds()/tarX.Seconds(), verifiedRSS, checked.Seconds(), checked.Seconds()/tarX.Seconds(), checkedRSS)
	b.Logf("%4d MiB  tar -czf %6.2fs | snapshot (stream, pgzip, store, re-read) %6.2fs = %.2fx, peak RSS %3.0f MiB",
		size>>20, tarC.Seconds(), snapshot.Seconds(), snapshot.Seconds()/tarC.Seconds(), snapshotRSS)
}
