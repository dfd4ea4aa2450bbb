package backup_test

import (
	"archive/tar"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/pgzip"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/integration/benchtable"
	"github.com/algotrendy/rewind/storage"
)

// TestMain runs one verify or upload in a child process, so its peak RSS is measured alone.
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
	ctx := context.Background()
	a := &backup.Activities{}
	file := os.Getenv("REWIND_BENCH_FILE")
	switch step {
	case "verify":
		v, err := a.VerifyBackup(ctx, backup.VerifyInput{Location: storage.Location{Dir: filepath.Dir(file)}, Name: filepath.Base(file), Layout: "runbook", RequireChecksum: true})
		if err == nil && v.Sidecar != "match" {
			err = fmt.Errorf("the sidecar was not compared: %s", v.Sidecar)
		}
		return err
	case "upload":
		s, err := storage.NewS3(ctx, storage.Location{Bucket: "backups", Prefix: "bench/", Endpoint: os.Getenv("REWIND_BENCH_S3"), UsePathStyle: true})
		if err != nil {
			return err
		}
		return s.PutFile(ctx, filepath.Base(file), file, storage.UploadCheckpoint{}, func(storage.UploadCheckpoint) {})
	}
	return fmt.Errorf("unknown step %q", step)
}

func timed(b *testing.B, cmd *exec.Cmd) (time.Duration, float64) {
	b.Helper()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "%s", out)
	return time.Since(start), float64(benchtable.ChildPeakRSS(cmd, string(out))) / (1 << 20)
}

// BenchmarkVerifyAndUpload streams a 1 GiB backup through verification and through a
// multipart upload to an S3-protocol server, beside `sha256sum` on the same file.
// Run with: go test -run '^$' -bench VerifyAndUpload -benchtime 1x ./activities/backup
func BenchmarkVerifyAndUpload(b *testing.B) {
	dir := b.TempDir()
	file := filepath.Join(dir, "questdb_backup_20261126_000000.tar.gz")
	f, err := os.Create(file)
	require.NoError(b, err)
	gz, _ := pgzip.NewWriterLevel(f, pgzip.BestSpeed)
	tw := tar.NewWriter(gz)
	rng := rand.New(rand.NewPCG(3, 4))
	chunk := make([]byte, 16<<20)
	for i := range 64 {
		for j := 0; j < len(chunk); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				chunk[j+k] = byte(v >> (8 * k))
			}
		}
		require.NoError(b, tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("v/_data/db/col-%02d", i), Mode: 0o644, Size: int64(len(chunk))}))
		_, err := tw.Write(chunk)
		require.NoError(b, err)
	}
	require.NoError(b, tw.Close())
	require.NoError(b, gz.Close())
	require.NoError(b, f.Close())
	st, err := os.Stat(file)
	require.NoError(b, err)
	mib := float64(st.Size()) / (1 << 20)

	s := startS3(b)
	child := func(step string, environ ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "REWIND_BENCH_CHILD="+step, "REWIND_BENCH_FILE="+file, "REWIND_BENCH_S3="+s.URL)
		cmd.Env = append(cmd.Env, environ...)
		return cmd
	}
	// The worker's own PATH hides igzip and pigz: a Debian host as it comes (gzip only).
	bare := b.TempDir()
	gzip, err := exec.LookPath("gzip")
	require.NoError(b, err)
	require.NoError(b, os.Symlink(gzip, filepath.Join(bare, "gzip")))
	sumCmd := exec.Command("sha256sum", filepath.Base(file))
	sumCmd.Dir = dir
	sum, err := sumCmd.Output()
	require.NoError(b, err)
	sidecar := strings.TrimSuffix(file, ".tar.gz") + ".sha256"
	require.NoError(b, os.WriteFile(sidecar, sum, 0o644))
	for range b.N {
		// The runbook's checks: the checksum sidecar, then a listing of the archive.
		runbook := exec.Command("bash", "-c", fmt.Sprintf("cd %s && sha256sum -c %s && tar -tzf %s > /dev/null", dir, filepath.Base(sidecar), filepath.Base(file)))
		checks, _ := timed(b, runbook)
		benchtable.Raw(b, "verify 1 GiB", 0, checks.Seconds())
		sha, _ := timed(b, exec.Command("sha256sum", file))
		verify, verifyRSS := timed(b, child("verify"))
		hidden, hiddenRSS := timed(b, child("verify", "PATH="+bare))
		upload, uploadRSS := timed(b, child("upload"))
		r, h := verify.Seconds()/checks.Seconds(), hidden.Seconds()/checks.Seconds()
		benchtable.Raw(b, "verify 1 GiB", verify.Seconds(), hidden.Seconds(), checks.Seconds(), r, h)
		benchtable.Add(b, benchtable.Row{Measure: fmt.Sprintf("verify a %.0f MiB backup (hash, sidecar, every entry checked; %s / go) vs `sha256sum -c` + `tar -tzf`", mib, archive.Decompressor()),
			Rewind: benchtable.Seconds(verify), Hidden: benchtable.Seconds(hidden), Runbook: benchtable.Seconds(checks), Ratio: r, HiddenRatio: h, Goal: "≤ 0.6×", Met: r <= 0.6 && h <= 0.6})
		benchtable.Add(b, benchtable.Row{Measure: "peak RSS of the worker, verify", Rewind: fmt.Sprintf("%.1f MiB", verifyRSS), Hidden: fmt.Sprintf("%.1f MiB", hiddenRSS),
			Goal: "≤ 64 MiB", Met: verifyRSS <= 64 && hiddenRSS <= 64})
		b.ReportMetric(verify.Seconds()/sha.Seconds(), "verify/sha256sum")
		b.ReportMetric(verifyRSS, "verify-peak-MiB")
		b.ReportMetric(h, "hidden/runbook")
		b.ReportMetric(uploadRSS, "upload-peak-MiB")
		b.Logf("%.0f MiB backup: sha256sum %.2fs (%.0f MiB/s) | verify (sha256 + gunzip + tar walk + entry checks) %.2fs (%.0f MiB/s, %.2fx), peak RSS %.0f MiB | multipart upload to S3 protocol on loopback %.2fs (%.0f MiB/s), peak RSS %.0f MiB",
			mib, sha.Seconds(), mib/sha.Seconds(), verify.Seconds(), mib/verify.Seconds(), verify.Seconds()/sha.Seconds(), verifyRSS,
			upload.Seconds(), mib/upload.Seconds(), uploadRSS)
	}
}
