package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestEngineFaults runs full rollbacks through a proxy of the Docker socket that misbehaves:
// dropped requests and lost answers heal through retries, while a missing volume and a
// refused call end the rollback at once, saying what to fix, with nothing changed.
func TestEngineFaults(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	// compose is the operator's own tool and talks to the engine directly; the faults are
	// for Rewind's engine client.
	direct := fmt.Sprintf("compose: {command: [env, DOCKER_HOST=%s, %s]}\n", s.engine.DaemonHost(), strings.Join(s.compose, ", "))

	t.Run("flaky engine", func(t *testing.T) {
		t.Parallel()
		proxy := startEngineProxy(t, s.engine.DaemonHost(), &engineProxy{dropEvery: 7, loseEvery: 11, delayEvery: 3, delay: 200 * time.Millisecond})
		e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), config: direct})
		e.up()
		backup, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
		require.NoError(t, err)
		backupSum := fileSHA256(t, backup)
		require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
		e.startWorker("DOCKER_HOST=" + proxy.host())
		proxy.armed.Store(true)

		id := e.startFull()
		e.awaitRestored(c, id)
		proxy.armed.Store(false)
		runs := history(t, c, id)
		require.Zero(t, runs.stepsRunTwice(), "steps of the rollback ran again: %v", runs.scheduled)
		runs.safeOrder(t)
		faults := proxy.dropped.Load() + proxy.lost.Load()
		require.Positive(t, faults, "the proxy dropped requests or lost answers")
		retried := 0
		for _, a := range runs.attempt {
			retried += a - 1
		}
		lost := 0
		if fileSHA256(t, backup) != backupSum {
			lost++
		}
		require.Zero(t, lost, "the backup is as it was")
		s.report.add(chaosRow{
			scenario: "full, engine drops 1 in 7 requests, loses 1 in 11 answers, delays 1 in 3",
			outcome:  fmt.Sprintf("completed; %d of %d requests faulted, %d retried attempts", faults, proxy.requests.Load(), retried),
			runTwice: runs.stepsRunTwice(), lost: lost,
		})
	})

	t.Run("no such volume", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), volume: "rewind_missing_volume"})
		e.up()
		e.startWorker()
		id := e.startFull()
		err := e.failure(c, id)
		require.ErrorContains(t, err, "volume rewind_missing_volume does not exist; check stacks."+e.stack+".volumes; nothing was changed")
		requireType(t, err, failure.NoSuchVolume)
		runs := history(t, c, id)
		require.Equal(t, 1, runs.attempt["InspectVolume"], "not retried")
		require.Zero(t, runs.scheduled["StopProject"], "the stack was not stopped")
		rows, err := e.rowCount()
		require.NoError(t, err, "the stack still serves")
		require.Equal(t, float64(500), rows)
		s.report.add(chaosRow{scenario: "full, the stack names a volume that does not exist", outcome: "failed at once, stack untouched: " + failure.NoSuchVolume})
	})

	t.Run("engine refuses", func(t *testing.T) {
		t.Parallel()
		proxy := startEngineProxy(t, s.engine.DaemonHost(), &engineProxy{deny: pathHas(http.MethodPost, "/stop")})
		e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-")})
		e.up()
		_, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
		require.NoError(t, err)
		e.startWorker("DOCKER_HOST=" + proxy.host())
		proxy.armed.Store(true)
		id := e.startFull()
		err = e.failure(c, id)
		require.ErrorContains(t, err, "authorization denied by plugin rewind-test-authz")
		require.ErrorContains(t, err, "give its user access to the engine's socket")
		requireType(t, err, failure.EngineRefused)
		runs := history(t, c, id)
		require.Equal(t, 1, runs.attempt["StopProject"], "a refusal is not retried")
		require.Zero(t, runs.scheduled["RemoveVolume"])
		rows, err := e.rowCount()
		require.NoError(t, err, "the stack still serves")
		require.Equal(t, float64(500), rows)
		s.report.add(chaosRow{scenario: "full, engine refuses to stop containers (403)", outcome: "failed at once, stack untouched: " + failure.EngineRefused})
	})
}

// startFull starts a P1 full rollback through the CLI and returns its workflow ID.
func (e *env) startFull() string {
	e.t.Helper()
	code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "chaos", "--as", "alice")
	require.Equal(e.t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	return api.WorkflowID(e.stack)
}

// failure waits for a rollback to fail and returns its error.
func (e *env) failure(c sdkclient.Client, id string) error {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res api.Result
	err := c.GetWorkflow(ctx, id, "").Get(ctx, &res)
	require.Error(e.t, err, "the rollback failed")
	return err
}

func requireType(t testing.TB, err error, want string) {
	t.Helper()
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, want, app.Type())
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
