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
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/archive"
	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/backup/local"
	"github.com/algotrendy/rewind/activities/backup/s3store"
)

// s3Server is a real S3-protocol server on 127.0.0.1 (gofakes3, in memory) that counts
// the bytes it sends and receives, so tests see what a resumed transfer sent again.
type s3Server struct {
	url         string
	sent, recvd atomic.Int64
	onSent      atomic.Value // func(total int64)
	// sentByRange counts the bytes sent in answer to each Range header, so a resumed
	// download is measured apart from the one it replaced.
	mu          sync.Mutex
	sentByRange map[string]int64
}

func startS3(t testing.TB) *s3Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "rewind-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "rewind-test-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	mem := s3mem.New()
	require.NoError(t, mem.CreateBucket("backups"))
	fake := gofakes3.New(mem).Server()
	s := &s3Server{sentByRange: map[string]int64{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = countingBody{r.Body, &s.recvd}
		}
		fake.ServeHTTP(&countingWriter{ResponseWriter: w, s: s, rng: r.Header.Get("Range")}, r)
	}))
	t.Cleanup(ts.Close)
	s.url = ts.URL
	return s
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	s   *s3Server
	rng string
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.s.mu.Lock()
	c.s.sentByRange[c.rng] += int64(n)
	c.s.mu.Unlock()
	total := c.s.sent.Add(int64(n))
	if hook, ok := c.s.onSent.Load().(func(int64)); ok && hook != nil {
		hook(total)
	}
	return n, err
}

func (s *s3Server) location() backup.Location {
	return backup.Location{Bucket: "backups", Prefix: "questdb/", Endpoint: s.url, UsePathStyle: true}
}

func opener(partSize int64) func(context.Context, backup.Location) (backup.Store, error) {
	return func(ctx context.Context, l backup.Location) (backup.Store, error) {
		if l.Bucket == "" {
			return local.New(l.Dir), nil
		}
		return s3store.New(ctx, s3store.Config{Bucket: l.Bucket, Prefix: l.Prefix, Endpoint: l.Endpoint, UsePathStyle: l.UsePathStyle, Region: l.Region, PartSize: partSize})
	}
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

func put(t *testing.T, a *backup.Activities, l backup.Location, name string, body []byte) {
	t.Helper()
	s, err := a.Open(context.Background(), l)
	require.NoError(t, err)
	require.NoError(t, s.Upload(context.Background(), name, bytes.NewReader(body), int64(len(body)), backup.UploadCheckpoint{}, func(backup.UploadCheckpoint) {}))
}

// stores runs a test against a local folder and against S3.
func stores(t *testing.T, test func(t *testing.T, a *backup.Activities, l backup.Location)) {
	t.Run("local", func(t *testing.T) {
		test(t, &backup.Activities{Open: opener(0), Downloads: t.TempDir()}, backup.Location{Dir: t.TempDir()})
	})
	t.Run("s3", func(t *testing.T) {
		s := startS3(t)
		test(t, &backup.Activities{Open: opener(0), Downloads: t.TempDir()}, s.location())
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
	stores(t, func(t *testing.T, a *backup.Activities, l backup.Location) {
		good := goodBackup(t)
		put(t, a, l, "questdb_backup_20251019_020000.tar.gz", good)
		put(t, a, l, "questdb_backup_20251019_020000.sha256", sidecar(good, "questdb_backup_20251019_020000.tar.gz"))
		put(t, a, l, "questdb_backup_20251020_020000.tar.gz", good)
		put(t, a, l, "questdb_backup_20251020_020000.sha256", sidecar([]byte("other"), "questdb_backup_20251020_020000.tar.gz"))
		put(t, a, l, "questdb_backup_20251021_020000.tar.gz", good[:len(good)/2])
		put(t, a, l, "notes.txt", []byte("not a backup"))

		list, err := a.ListBackups(context.Background(), backup.ListInput{Location: l, Pattern: "questdb_backup_*.tar.gz", Limit: 3})
		require.NoError(t, err)
		var names []string
		for _, o := range list {
			names = append(names, o.Name)
		}
		require.Equal(t, []string{"questdb_backup_20251021_020000.tar.gz", "questdb_backup_20251020_020000.tar.gz", "questdb_backup_20251019_020000.tar.gz"}, names)

		res, err := a.FindLatestGood(context.Background(), backup.LatestGoodInput{Location: l, Pattern: "questdb_backup_*.tar.gz", Layout: archive.RunbookLayout})
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
	stores(t, func(t *testing.T, a *backup.Activities, l backup.Location) {
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
			{name: "missing sidecar required", body: good, require: true, errType: backup.ErrMissingChecksum, want: "no questdb_backup_20251019_020000.sha256 sidecar, and the stack sets require_checksum"},
			{name: "mismatch", body: good, sidecar: sidecar([]byte("x"), "x"), errType: backup.ErrChecksumMismatch, want: "its sidecar says"},
			{name: "sidecar garbage", body: good, sidecar: []byte("hello"), errType: backup.ErrChecksumMismatch, want: "not in sha256sum format"},
			{name: "truncated gzip", body: good[:len(good)-10], errType: backup.ErrCorrupt, want: "damaged"},
			{name: "dot-dot entry", body: tarGz(t, entry{"v/_data/../../etc/passwd", []byte("x")}), errType: archive.ErrUnsafeEntry, want: "climbs out with '..'"},
			{name: "decompression bomb", body: bomb, max: 1 << 20, errType: backup.ErrTooLarge, want: "unpacks to more than 1048576 bytes"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				prefix := strings.ReplaceAll(tc.name, " ", "-") + "/"
				name := prefix + "questdb_backup_20251019_020000.tar.gz"
				put(t, a, l, name, tc.body)
				if tc.sidecar != nil {
					put(t, a, l, backup.SidecarName(name), tc.sidecar)
				}
				v, err := a.VerifyBackup(context.Background(), backup.VerifyInput{Location: l, Name: name, RequireChecksum: tc.require, Layout: archive.RunbookLayout, MaxBytes: tc.max})
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
	stores(t, func(t *testing.T, a *backup.Activities, l backup.Location) {
		_, err := a.FindLatestGood(context.Background(), backup.LatestGoodInput{Location: l, Pattern: "questdb_backup_*.tar.gz", Layout: archive.RunbookLayout})
		require.Equal(t, backup.ErrNoGoodBackup, appErrType(t, err))
		require.Contains(t, err.Error(), "no file matches questdb_backup_*.tar.gz")
	})
}

func TestS3AccessErrorsSayWhatToCheck(t *testing.T) {
	s := startS3(t)
	a := &backup.Activities{Open: opener(0)}
	l := s.location()
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
	a := &backup.Activities{Open: opener(0), Downloads: t.TempDir()}
	body := random(24 << 20)
	put(t, a, s.location(), "questdb_backup_20251019_020000.tar.gz", body)
	h := sha256.Sum256(body)
	in := backup.DownloadInput{Location: s.location(), Name: "questdb_backup_20251019_020000.tar.gz", SHA256: hex.EncodeToString(h[:])}

	ctx, cancel := context.WithCancel(context.Background())
	start := s.sent.Load()
	s.onSent.Store(func(total int64) {
		if total-start > 10<<20 {
			cancel()
		}
	})
	_, err := a.DownloadBackup(ctx, in)
	require.Error(t, err, "the first download was cut off")
	s.onSent.Store(func(int64) {})

	got, err := a.DownloadBackup(context.Background(), in)
	require.NoError(t, err)
	s.mu.Lock()
	resent := s.sentByRange[fmt.Sprintf("bytes=%d-", got.ResumedAt)]
	s.mu.Unlock()
	require.Positive(t, got.ResumedAt)
	require.Equal(t, int64(len(body))-got.ResumedAt, resent, "the second download fetched only what the first had not kept")
	onDisk, err := os.ReadFile(got.Path)
	require.NoError(t, err)
	require.Equal(t, body, onDisk)
}

func TestMultipartUploadInterruptedResumesFromTheStoredParts(t *testing.T) {
	s := startS3(t)
	const part = 5 << 20
	open := opener(part)
	store, err := open(context.Background(), s.location())
	require.NoError(t, err)
	body := random(3*part + 1234)

	ctx, cancel := context.WithCancel(context.Background())
	var lastSaved backup.UploadCheckpoint
	err = store.Upload(ctx, "snap.tar.gz", bytes.NewReader(body), int64(len(body)), backup.UploadCheckpoint{}, func(cp backup.UploadCheckpoint) {
		lastSaved = cp
		if len(cp.Parts) == 2 {
			cancel()
		}
	})
	require.Error(t, err, "the first upload was cut off after two parts")
	require.Len(t, lastSaved.Parts, 2)

	// The retry knows only the upload ID, as from a heartbeat that lagged behind.
	before := s.recvd.Load()
	err = store.Upload(context.Background(), "snap.tar.gz", bytes.NewReader(body), int64(len(body)), backup.UploadCheckpoint{UploadID: lastSaved.UploadID}, func(backup.UploadCheckpoint) {})
	require.NoError(t, err)
	resent := s.recvd.Load() - before
	require.Less(t, resent, int64(len(body)-2*part+4096), "the two stored parts were not sent again")
	require.GreaterOrEqual(t, resent, int64(len(body)-2*part))

	r, err := store.Open(context.Background(), "snap.tar.gz", 0)
	require.NoError(t, err)
	defer r.Close()
	stored, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, body, stored)
}
