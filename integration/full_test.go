package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// rowCount asks the demo's market database for its rows, as the runbook's check does.
func (e *env) rowCount() (float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/exec?query=SELECT%%20COUNT(*)%%20FROM%%20market_data", e.dbPort))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Dataset [][]float64 `json:"dataset"`
		Error   string      `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Error != "" || len(out.Dataset) == 0 {
		return 0, fmt.Errorf("market database: %v %s", err, out.Error)
	}
	return out.Dataset[0][0], nil
}

func TestFullRollbackRestoresACorruptedDatabaseAfterApproval(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second})
	e.up()
	rows, err := e.rowCount()
	require.NoError(t, err)
	require.Positive(t, rows)
	backup, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
	require.NoError(t, err)
	backupPrint := e.fingerprint()
	// Trades after the backup: the restore must bring back the backup's data, not today's.
	require.NoError(t, demostack.Seed(context.Background(), e.dbURL(), 7))
	require.NotEqual(t, backupPrint, e.fingerprint())
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := e.rowCount()
		assert.ErrorContains(c, err, "file is not a database", "the database is corrupted before the rollback")
	}, 30*time.Second, 100*time.Millisecond)
	e.startWorker()

	code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "market_data corrupted", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	id := api.WorkflowID(e.stack)

	code, _, errOut = e.rewind("approve", id, "--as", "alice")
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "alice asked for this rollback and cannot approve it too")
	code, out, errOut = e.rewind("approve", id, "--as", "bob", "--reason", "backup checked")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "accepted: approved by bob (senior) to restore "+filepath.Base(backup)+" "+fileSHA256(t, backup))

	code, out, errOut = e.rewind("watch", id, "--interval", "200ms")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "COMPLETED")

	rows, err = e.rowCount()
	require.NoError(t, err, "the restored database answers")
	require.Equal(t, float64(500), rows, "the verification's count comes from the restored backup")

	code, report, errOut := e.rewind("report", id)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, report, "| "+demostack.Volume(e.project)+" | "+filepath.Base(backup)+" | "+fileSHA256(t, backup))
	require.Contains(t, report, "| data integrity | pass | SELECT COUNT(*) FROM market_data → 500 |")
	require.Contains(t, report, "| data is the backup's ("+demostack.Volume(e.project)+") | pass | "+demostack.FingerprintQuery+" → "+strings.ReplaceAll(backupPrint, "|", `\|`)+" |")
	require.Contains(t, report, "bob — accepted: approved by bob (senior)")
	require.NotContains(t, report, "alice asked for this rollback", "a refused decision leaves no trace")

	// The Web UI reads the checklist from the workflow's metadata query.
	q, err := c.QueryWorkflow(context.Background(), id, "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var meta sdkpb.WorkflowMetadata
	require.NoError(t, q.Get(&meta))
	require.Contains(t, meta.GetCurrentDetails(), "- [x] Restore the newest good backup into a staging volume (proves it restores): ")
	require.Contains(t, meta.GetCurrentDetails(), "**Outcome:** completed")

	// No data is lost: the corrupted volume's snapshot holds the corrupted file.
	snaps, err := filepath.Glob(filepath.Join(e.evidence, "incidents", "*", id, "*", "failed_deployment_*.tar.gz"))
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	require.FileExists(t, strings.TrimSuffix(snaps[0], ".tar.gz")+".sha256")
	require.Contains(t, gunzipAll(t, snaps[0]), "CORRUPTED BY DEMO", "the damaged data is kept for forensics")

	history(t, c, id).safeOrder(t)
	requireNoStaging(t, s, e.project)
	recordHistory(t, c, id, "full.json")
	recordHistory(t, c, api.VerifyWorkflowID(id), "verify/full.json")
}

func gunzipAll(t testing.TB, path string) string {
	t.Helper()
	out, err := os.Open(path)
	require.NoError(t, err)
	defer out.Close()
	cmd := execGunzip(out)
	b, err := io.ReadAll(cmd)
	require.NoError(t, err)
	return string(b)
}
