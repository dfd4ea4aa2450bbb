package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/storage/s3test"
)

func s3Location(s *s3test.Server, partSize int64) storage.Location {
	return storage.Location{Bucket: "backups", Prefix: "questdb/", Endpoint: s.URL, UsePathStyle: true, PartSize: partSize}
}

type entry struct {
	name string
	body []byte
}

func tarGz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(e.body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

func sidecar(body []byte, name string) []byte {
	h := sha256.Sum256(body)
	return []byte(hex.EncodeToString(h[:]) + "  " + filepath.Base(name) + "\n")
}

func put(t *testing.T, l storage.Location, name string, body []byte) {
	t.Helper()
	s, err := storage.Open(context.Background(), l)
	require.NoError(t, err)
	require.NoError(t, s.Put(context.Background(), name, bytes.NewReader(body)))
}

// stores runs a test against a local folder and against S3.
func stores(t *testing.T, test func(t *testing.T, a *backup.Activities, l storage.Location)) {
	t.Run("local", func(t *testing.T) {
		test(t, &backup.Activities{Downloads: t.TempDir()}, storage.Location{Dir: t.TempDir()})
	})
	t.Run("s3", func(t *testing.T) {
		test(t, &backup.Activities{Downloads: t.TempDir()}, s3Location(startS3(t), 0))
	})
}

func goodBackup(t *testing.T) []byte {
	return tarGz(t, entry{"algotrendy_v26_questdb_data/_data/db/market.sqlite", []byte("rows")})
}

func appErrType(t *testing.T, err error) string {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.True(t, appErr.NonRetryable(), "a bad backup does not heal by retrying")
	return appErr.Type()
}

func TestNewestGoodBackupIsChosenAndNewerBadOnesAreExplained(t *testing.T) {
	stores(t, func(t *testing.T, a *backup.Activities, l storage.Location) {
		good := goodBackup(t)
		put(t, l, "questdb_backup_20251019_020000.tar.gz", good)
		put(t, l, "questdb_backup_20251019_020000.sha256", sidecar(good, "questdb_backup_20251019_020000.tar.gz"))
		put(t, l, "questdb_backup_20251020_020000.tar.gz", good)
		put(t, l, "questdb_backup_20251020_020000.sha256", sidecar([]byte("other"), "questdb_backup_20251020_020000.tar.gz"))
		put(t, l, "questdb_backup_20251021_020000.tar.gz", good[:len(good)/2])
		put(t, l, "notes.txt", []byte("not a backup"))

		list, err := a.ListBackups(context.Background(), backup.ListInput{Location: l, Pattern: "questdb_backup_*.tar.gz", Limit: 3})
		require.NoError(t, err)
		var names []string
		for _, o := range list {
			names = append(names, o.Name)
		}
		require.Equal(t, []string{"questdb_backup_20251021_020000.tar.gz", "questdb_backup_20251020_020000.tar.gz", "questdb_backup_20251019_020000.tar.gz"}, names)

		res, err := a.FindLatestGood(context.Background(), backup.LatestGoodInput{Location: l, Pattern: "questdb_backup_*.tar.gz", Layout: "runbook"})
		require.NoError(t, err)
		require.Equal(t, "questdb_backup_20251019_020000.tar.gz", res.Chosen.Name)
		require.Equal(t, "match", res.Chosen.Sidecar)
		require.Len(t, res.Skipped, 2)
		require.Contains(t, res.Skipped[0].Reason, "questdb_backup_20251021_020000.tar.gz")
		require.Contains(t, res.Skipped[0].Reason, "damaged")
		require.Contains(t, res.Skipped[1].Reason, "its sidecar says")
	})
}

func TestVerifyRefusesBadBackupsNamingWhatIsWrong(t *testing.T) {
	bomb := tarGz(t, entry{"v/_data/zeros", make([]byte, 8<<20)})
	stores(t, func(t *testing.T, a *backup.Activities, l storage.Location) {
		good := goodBackup(t)
		for _, tc := range []struct {
			name    string
			body    []byte
			sidecar []byte
			require bool
			max     int64
			errType string
			want    string
		}{
			{name: "match", body: good, sidecar: sidecar(good, "x")},
			{name: "missing sidecar allowed", body: good},
			{name: "missing sidecar required", body: good, require: true, errType: failure.MissingChecksum, want: "no questdb_backup_20251019_020000.sha256 sidecar, and the stack sets require_checksum"},
			{name: "mismatch", body: good, sidecar: sidecar([]byte("x"), "x"), errType: failure.ChecksumMismatch, want: "its sidecar says"},
			{name: "sidecar garbage", body: good, sidecar: []byte("hello"), errType: failure.ChecksumMismatch, want: "holds no sha256 for it"},
			{name: "truncated gzip", body: good[:len(good)-10], errType: failure.CorruptBackup, want: "damaged"},
			{name: "dot-dot entry", body: tarGz(t, entry{"v/_data/../../etc/passwd", []byte("x")}), errType: failure.UnsafeEntry, want: "climbs out with '..'"},
			{name: "decompression bomb", body: bomb, max: 1 << 20, errType: failure.TooLarge, want: "unpacks to more than 1048576 bytes"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				prefix := strings.ReplaceAll(tc.name, " ", "-") + "/"
				name := prefix + "questdb_backup_20251019_020000.tar.gz"
				put(t, l, name, tc.body)
				if tc.sidecar != nil {
					put(t, l, backups.SidecarName(name), tc.sidecar)
				}
				v, err := a.VerifyBackup(context.Background(), backup.VerifyInput{Location: l, Name: name, RequireChecksum: tc.require, Layout: "runbook", MaxBytes: tc.max})
				if tc.errType == "" {
					require.NoError(t, err)
					require.Equal(t, map[bool]string{true: "match", false: "missing"}[tc.sidecar != nil], v.Sidecar)
					require.Equal(t, 1, v.Entries)
					return
				}
				require.Error(t, err)
				require.Equal(t, tc.errType, appErrType(t, err))
				require.Contains(t, err.Error(), tc.want)
				require.Contains(t, err.Error(), name, "the message names the backup")
			})
		}
	})
}

func TestNoBackupAtAllIsExplained(t *testing.T) {
	stores(t, func(t *testing.T, a *backup.Activities, l storage.Location) {
		_, err := a.FindLatestGood(context.Background(), backup.LatestGoodInput{Location: l, Pattern: "questdb_backup_*.tar.gz", Layout: "runbook"})
		require.Equal(t, failure.NoGoodBackup, appErrType(t, err))
		require.Contains(t, err.Error(), "no file matches questdb_backup_*.tar.gz")
	})
}

func TestS3AccessErrorsSayWhatToCheck(t *testing.T) {
	a := &backup.Activities{}
	l := s3Location(startS3(t), 0)
	l.Bucket = "no-such-bucket"
	_, err := a.ListBackups(context.Background(), backup.ListInput{Location: l, Pattern: "*"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "list s3://no-such-bucket/questdb/: NoSuchBucket")
	require.Contains(t, err.Error(), "check the bucket name and the worker's AWS credentials")
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestDownloadInterruptedResumesWithoutFetchingBytesAgain(t *testing.T) {
	s := startS3(t)
	a := &backup.Activities{Downloads: t.TempDir()}
	body := random(24 << 20)
	put(t, s3Location(s, 0), "questdb_backup_20251019_020000.tar.gz", body)
	h := sha256.Sum256(body)
	in := backup.DownloadInput{Location: s3Location(s, 0), Name: "questdb_backup_20251019_020000.tar.gz", SHA256: hex.EncodeToString(h[:])}

	ctx, cancel := context.WithCancel(context.Background())
	start := s.Sent.Load()
	s.OnSent(func(total int64) {
		if total-start > 10<<20 {
			cancel()
		}
	})
	_, err := a.DownloadBackup(ctx, in)
	require.Error(t, err, "the first download was cut off")
	s.OnSent(func(int64) {})

	got, err := a.DownloadBackup(context.Background(), in)
	require.NoError(t, err)
	resent := s.SentFor(fmt.Sprintf("bytes=%d-", got.ResumedAt))
	require.Positive(t, got.ResumedAt)
	require.Equal(t, int64(len(body))-got.ResumedAt, resent, "the second download fetched only what the first had not kept")
	onDisk, err := os.ReadFile(got.Path)
	require.NoError(t, err)
	require.Equal(t, body, onDisk)
}

// A backup without a checksum (require_checksum off) downloads from S3 too.
func TestDownloadWithoutAChecksum(t *testing.T) {
	s := startS3(t)
	a := &backup.Activities{Downloads: t.TempDir()}
	body := random(1 << 20)
	put(t, s3Location(s, 0), "questdb_backup_20251019_020000.tar.gz", body)
	got, err := a.DownloadBackup(context.Background(), backup.DownloadInput{Location: s3Location(s, 0), Name: "questdb_backup_20251019_020000.tar.gz"})
	require.NoError(t, err)
	onDisk, err := os.ReadFile(got.Path)
	require.NoError(t, err)
	require.Equal(t, body, onDisk)
}

func startS3(t testing.TB) *s3test.Server {
	s3test.UseCredentials(t)
	return s3test.Start(t, "backups")
}
