package integration

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/holds"
	"github.com/algotrendy/rewind/workflows/api"
)

// A backup run terminated while it holds the database runs none of its own release: the
// next worker on the host reads the hold from its ledger, finds the run closed, and lets
// the database go, so a paused, stopped or checkpointed database does not wait for the next
// backup to serve again.
func TestAHoldIsLetGoWhenItsBackupIsTerminated(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	for _, mode := range []string{"pause", "stop", "checkpoint"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), transferBatch: transferBatch})
			e.consistency(mode)
			e.up()
			ctx := context.Background()
			require.NoError(t, demostack.Pad(ctx, s.engine, e.project, padFiles, 1<<20))
			db, err := demostack.DatabaseContainer(ctx, s.engine, e.project)
			require.NoError(t, err)
			held := func() bool {
				if mode == "checkpoint" {
					_, err := s.engine.ContainerStatPath(ctx, db, client.ContainerStatPathOptions{Path: "/var/lib/questdb/db/checkpoint"})
					return err == nil
				}
				info, err := s.engine.ContainerInspect(ctx, db, client.ContainerInspectOptions{})
				require.NoError(t, err)
				return info.Container.State.Paused || !info.Container.State.Running
			}
			require.False(t, held(), "nothing is held before the backup")

			doomed := e.startWorker("REWIND_CRASH_AT=during:snapshot@3MiB")
			code, out, errOut := e.rewind("backup", "--stack", e.stack, "--as", "carol")
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			doomed.crashed(t)
			require.True(t, held(), "the worker died mid-copy, with the database held")
			ledger := holds.Ledger{Dir: holds.Dir(filepath.Join(e.dir, "state"))}
			left, err := ledger.List()
			require.NoError(t, err)
			require.Len(t, left, 1, "the hold is in the host's ledger")
			require.Equal(t, mode, left[0].Mode)

			id := api.BackupWorkflowID(e.stack)
			require.NoError(t, c.TerminateWorkflow(ctx, id, "", "an operator ends the backup by hand"))
			w := e.startWorker()
			require.Eventually(t, func() bool { return !held() }, time.Minute, 100*time.Millisecond,
				"the worker lets go of the terminated run's hold; log:\n%s", w.logs)
			require.Eventually(t, func() bool {
				left, err := ledger.List()
				return err == nil && (len(left) == 0 || !left[0].Released.IsZero())
			}, 10*time.Second, 50*time.Millisecond, "the released hold is marked released, or gone once the step that took it is past its deadline")
			require.Eventually(t, func() bool {
				return strings.Contains(w.logs.String(), "let go of a hold whose backup ended without releasing it")
			}, 10*time.Second, 50*time.Millisecond, "the worker says what it let go")
			if mode == "stop" {
				require.NoError(t, demostack.WaitHealthy(ctx, s.engine, e.project), "the stopped stack serves again")
			}
			require.NoError(t, demostack.Seed(ctx, e.dbURL(), 3), "the database takes writes again")
			entries, err := os.ReadDir(e.backups)
			if !errors.Is(err, fs.ErrNotExist) {
				require.NoError(t, err)
			}
			for _, f := range entries {
				assert.NotContains(t, f.Name(), ".tar.gz.sha256", "a terminated backup publishes nothing")
			}
		})
	}
}
