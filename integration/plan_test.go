package integration

import (
	"archive/tar"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestBackupsAndPlanBeforeAPinnedRestore shows the store's backups, plans a full rollback
// (which reads them all and changes nothing: volume, containers, backups, no workflow),
// verifies them on demand, then restores the pinned older one and shows what that proved.
func TestBackupsAndPlanBeforeAPinnedRestore(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second})
	e.up()
	good := filepath.Base(e.goodBackup())
	at := time.Now().Add(time.Minute)
	e.writeBackupAt(at, tarGz(t, tar.Header{Name: "/etc/rewind-evil", Typeflag: tar.TypeReg, Size: 4}))
	bad := demostack.BackupName(at)
	e.startWorker()
	before, running := e.snapshotState(), e.apiStarted()

	code, out, errOut := e.rewind("backups", e.stack)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, bad+`\s+\S+\s+[0-9.]+ (B|KiB|MiB)\s+[0-9a-f]{12}…\s+never`, out)
	require.Regexp(t, good+`\s+\S+\s+[0-9.]+ (B|KiB|MiB)\s+[0-9a-f]{12}…\s+never`, out)

	code, out, errOut = e.rewind("plan", "full", "--stack", e.stack, "--severity", "P2")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "  5. Stop the stack\n")
	require.Contains(t, out, "Approval: a senior or above (bob), not the requester, within 15m00s; then it escalates to tech-lead")
	require.Contains(t, out, "would skip "+bad+": ")
	require.Contains(t, out, "/etc/rewind-evil")
	require.Contains(t, out, "would restore "+good)
	require.Contains(t, out, "no staging restore on this host yet to measure")
	code, out, errOut = e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "x", "--as", "alice", "--backup", bad, "--dry-run")
	require.Equal(t, 1, code, "a pinned backup that would not restore fails the plan:\n%s%s", out, errOut)
	require.Contains(t, errOut, "the rollback would fail: no backup of ")

	e.requireUnchanged(before)
	require.Equal(t, running, e.apiStarted(), "the stack never stopped")
	_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
	var notFound *serviceerror.NotFound
	require.True(t, errors.As(err, &notFound), "no workflow started: %v", err)

	code, out, errOut = e.rewind("backups", e.stack, "--verify")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, bad+`.*FAILED .* ago by rewind backups --verify`, out)
	require.Regexp(t, good+`.*ok .* ago by rewind backups --verify( by \S+)?: read whole: \d+ entries`, out)

	code, out, errOut = e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "restore last night's", "--as", "alice", "--backup", good, "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "restored "+good)
	code, out, errOut = e.rewind("backups", e.stack)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, good+`.*ok .* ago by rewind-demo/\S+: restored whole into a staging volume: \d+ entries`, out)
	code, out, errOut = e.rewind("plan", "full", "--stack", e.stack, "--severity", "P1", "--backup", good)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "this host's last staging restore ran at")
	require.Contains(t, out, "Approval: none; the requester must be on-call or above (alice, bob, carol)")
}
