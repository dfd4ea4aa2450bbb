package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestBadInputTable gives Rewind every kind of bad input an incident brings (damaged and
// hostile backups, an unreadable bucket, wrong commands and configuration, decisions from
// the wrong people) and checks each is refused with a message that names it, with the
// stack, its volume and the backups left as they were.
func TestBadInputTable(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	s3 := startS3(t)

	// A full rollback must refuse these backups before anything changes.
	for _, tc := range []struct {
		name   string
		make   func(e *env) // writes the bad backup
		s3     bool         // backups in an S3 bucket that does not exist
		expect string       // in the rollback's error
	}{
		{"corrupt sidecar", func(e *env) {
			path := e.goodBackup()
			require.NoError(t, os.WriteFile(backups.SidecarName(path), []byte(strings.Repeat("0", 64)+"  "+filepath.Base(path)+"\n"), 0o644))
		}, false, "its checksum says " + strings.Repeat("0", 64)},
		{"truncated gzip", func(e *env) {
			path := e.goodBackup()
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			// Only the damaged copy is left: with a good older one Rewind would restore that.
			require.NoError(t, os.Remove(path))
			require.NoError(t, os.Remove(backups.SidecarName(path)))
			e.writeBackup(b[:len(b)/2])
		}, false, "damaged"},
		{"tar entry with ../", func(e *env) {
			e.writeBackup(tarGz(t, tar.Header{Name: "v/_data/../../../etc/rewind-evil", Typeflag: tar.TypeReg, Size: 4}))
		}, false, "climbs out with '..'"},
		{"tar entry with an absolute path", func(e *env) {
			e.writeBackup(tarGz(t, tar.Header{Name: "/etc/rewind-evil", Typeflag: tar.TypeReg, Size: 4}))
		}, false, "is an absolute path"},
		{"tar symlink escaping the volume", func(e *env) {
			e.writeBackup(tarGz(t, tar.Header{Name: "v/_data/db/link", Typeflag: tar.TypeSymlink, Linkname: "../../../../etc"}))
		}, false, "outside the volume"},
		{"no backup at all", func(e *env) {}, false, "no file matches questdb_backup_*.tar.gz in "},
		{"unreadable S3 bucket", func(e *env) {}, true, "NoSuchBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-")}
			if tc.s3 {
				o.s3, o.backupBucket = s3, "rewind-no-such-bucket"
			}
			e := newEnv(t, s, srv.GRPCAddr(), o)
			require.NoError(t, os.MkdirAll(e.backups, 0o755))
			e.up()
			tc.make(e)
			before := e.snapshotState()
			e.startWorker()
			id := e.startFull()
			err := e.failure(c, id)
			require.ErrorContains(t, err, tc.expect)
			require.NotContains(t, message(err), "retryable:", "the message speaks to the operator, not of SDK error types")
			runs := history(t, c, id)
			require.Zero(t, runs.scheduled["StopProject"], "refused before the stack was touched")
			e.requireUnchanged(before)
			s.report.add(chaosRow{scenario: "bad input: " + tc.name, outcome: "refused: " + excerpt(message(err), tc.expect)})
		})
	}

	t.Run("commands and configuration", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-")})
		bad := filepath.Join(e.dir, "bad.yaml")
		require.NoError(t, os.WriteFile(bad, []byte("temporal: {address: nowhere, task_queue: \"\"}\nstacks:\n  demo: {compose_files: []}\n"), 0o600))
		for _, tc := range []struct {
			name   string
			args   []string
			expect string
		}{
			{"unknown stack", []string{"start", "full", "--stack", "nosuch", "--severity", "P1", "--reason", "r", "--as", "alice"}, `unknown stack "nosuch"`},
			{"unknown option", []string{"start", "sideways", "--stack", e.stack, "--severity", "P1", "--reason", "r", "--as", "alice"}, `unknown option "sideways"`},
			{"bad severity", []string{"start", "full", "--stack", e.stack, "--severity", "P9", "--reason", "r", "--as", "alice"}, "P9"},
			{"config with mistakes", []string{"--config", bad, "start", "full", "--stack", "demo", "--severity", "P1", "--reason", "r", "--as", "alice"}, "problem(s) in the configuration"},
		} {
			code, _, errOut := e.rewind(tc.args...)
			require.Equal(t, 2, code, "%s: %s", tc.name, errOut)
			require.Contains(t, errOut, tc.expect, tc.name)
			_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
			require.Error(t, err, "%s started nothing", tc.name)
			s.report.add(chaosRow{scenario: "bad input: " + tc.name, outcome: "refused (exit 2): " + excerpt(errOut, tc.expect)})
		}
	})

	t.Run("decisions", func(t *testing.T) {
		t.Parallel()
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		_, forger, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"),
			approvers: []string{fmt.Sprintf("{name: dave, role: senior, public_key: %q}", base64.StdEncoding.EncodeToString(pub))}})
		forged := filepath.Join(e.dir, "forged.key")
		require.NoError(t, os.WriteFile(forged, []byte(base64.StdEncoding.EncodeToString(forger)), 0o600))
		require.NoError(t, os.MkdirAll(e.backups, 0o755))
		e.up()
		e.goodBackup()
		before := e.snapshotState()
		e.startWorker()
		code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "bad decisions", "--as", "alice")
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		id := api.WorkflowID(e.stack)
		e.awaitApprovalGate(id)

		for _, tc := range []struct {
			name   string
			args   []string
			expect string
		}{
			{"approval from someone without authority", []string{"approve", id, "--as", "carol"}, "carol is on-call; this severity needs senior or above"},
			{"self-approval", []string{"approve", id, "--as", "alice"}, "alice asked for this rollback and cannot approve it too"},
			{"forged signature", []string{"approve", id, "--as", "dave", "--key", forged}, "dave's signature is refused: signing key is not allowed"},
			{"second rollback of a stack rolling back", []string{"start", "quick", "--stack", e.stack, "--severity", "P1", "--reason", "again", "--as", "bob"}, "already has a rollback running"},
		} {
			code, _, errOut := e.rewind(tc.args...)
			require.Equal(t, 2, code, "%s: %s", tc.name, errOut)
			require.Contains(t, errOut, tc.expect, tc.name)
			s.report.add(chaosRow{scenario: "bad input: " + tc.name, outcome: "refused (exit 2): " + excerpt(errOut, tc.expect)})
		}
		code, out, _ = e.rewind("status", id)
		require.Equal(t, 0, code)
		require.Contains(t, out, "(waiting for approval)", "the rollback still waits for a real approval")
		require.Zero(t, history(t, c, id).scheduled["StopProject"])
		e.requireUnchanged(before)
		code, _, errOut = e.rewind("cancel", id)
		require.Equal(t, 0, code, errOut)
	})
}

// goodBackup writes a backup of the stack's volume into the backups folder.
func (e *env) goodBackup() string {
	e.t.Helper()
	path, err := demostack.Backup(context.Background(), e.s.engine, e.project, e.backups, time.Now())
	require.NoError(e.t, err)
	return path
}

// writeBackup stores body as the newest backup, with a sidecar that matches it, so only
// its content is wrong.
func (e *env) writeBackup(body []byte) {
	e.t.Helper()
	e.writeBackupAt(time.Now().Add(time.Minute), body)
}

// sidecar writes the `sha256sum` sidecar of a backup as it is.
func (e *env) sidecar(path string) {
	e.t.Helper()
	sum := fileSHA256(e.t, path)
	require.NoError(e.t, os.WriteFile(backups.SidecarName(path), []byte(sum+"  "+filepath.Base(path)+"\n"), 0o644))
}

func tarGz(t testing.TB, hdrs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range hdrs {
		h.Mode = 0o644
		require.NoError(t, tw.WriteHeader(&h))
		if h.Size > 0 {
			_, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// stackState is what bad input must leave alone: the volume's files and the backups.
type stackState struct {
	volume, backups map[string]string
}

func (e *env) snapshotState() stackState {
	e.t.Helper()
	st := stackState{volume: e.volumeManifest(), backups: map[string]string{}}
	files, err := filepath.Glob(filepath.Join(e.backups, "*"))
	require.NoError(e.t, err)
	for _, f := range files {
		st.backups[filepath.Base(f)] = fileSHA256(e.t, f)
	}
	return st
}

// requireUnchanged checks the stack still serves its 500 rows from the same files, and
// the backups are as they were.
func (e *env) requireUnchanged(before stackState) {
	e.t.Helper()
	rows, err := e.rowCount()
	require.NoError(e.t, err, "the stack still serves")
	require.Equal(e.t, float64(500), rows)
	after := e.snapshotState()
	require.Equal(e.t, before.volume, after.volume, "the volume is as it was")
	require.Equal(e.t, before.backups, after.backups, "the backups are as they were")
}

// excerpt is the clause of msg that holds want, for the table.
func excerpt(msg, want string) string {
	i := strings.Index(msg, want)
	if i < 0 {
		return want
	}
	start := strings.LastIndex(msg[:i], ": ") + 1
	out := msg[start:]
	if j := strings.IndexAny(out, ";\n"); j >= 0 {
		out = out[:j]
	}
	if len(out) > 140 {
		out = out[:140] + "…"
	}
	return strings.TrimSpace(strings.ReplaceAll(out, "|", "/"))
}

// message is a failed rollback's own message, without the SDK's wrapping.
func message(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
