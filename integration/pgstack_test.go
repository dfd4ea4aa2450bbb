package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/examples/postgres/pgimage"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// Queries of the PostgreSQL example's data: what the verification counts, and what a
// restore must bring back exactly.
const (
	tradesCount       = "SELECT COUNT(*) FROM trades"
	tradesFingerprint = "SELECT COUNT(*), SUM(qty) FROM trades"
)

// pgStack is one test's PostgreSQL example stack (Debian's PostgreSQL 15 in a container,
// its data in a named volume) and the Rewind installation that rolls it back.
type pgStack struct {
	*env
	port   int
	volume string
	url    string
}

type pgOptions struct {
	// healthURL is the stack's health_url (default none); healthTimeout its health_timeout
	// (default 1m).
	healthURL     string
	healthTimeout time.Duration
	// heartbeat is worker.heartbeat_timeout (default 20s): how soon a dead worker's step
	// is given to another.
	heartbeat time.Duration
}

func newPGStack(t testing.TB, s *suite, temporalAddr string, o pgOptions) *pgStack {
	t.Helper()
	s.postgresImage(t)
	e := &env{t: t, s: s, bin: s.bin, dir: t.TempDir(), stack: "pg", project: uniqueName("rwpg"), host: uniqueName("host-"), taskQueue: uniqueName("rewind-")}
	e.evidence = filepath.Join(e.dir, "evidence")
	e.backups = filepath.Join(e.dir, "backups")
	e.config = filepath.Join(e.dir, "rewind.yaml")
	e.composeFile = filepath.Join(e.dir, "docker-compose.yml")
	src, err := pgimage.ComposeFile()
	require.NoError(t, err)
	yml, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(e.composeFile, yml, 0o600))
	require.NoError(t, os.MkdirAll(e.backups, 0o755))
	p := &pgStack{env: e, port: freePort(t), volume: e.project + "_pgdata"}
	p.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, ".env"), []byte(fmt.Sprintf("PG_PORT=%d\n", p.port)), 0o600))
	health := ""
	if o.healthURL != "" {
		health = fmt.Sprintf("      health_url: %s\n", o.healthURL)
	}
	body := fmt.Sprintf(`temporal: {address: %q, task_queue: %q}
worker: {host: %q, drain_timeout: 5s, state_dir: %q, heartbeat_timeout: %s}
evidence: {dir: %q}
stacks:
  pg:
    project: %s
    compose_files: [%q]
    working_dir: %q
    volumes: [{name: %s, pattern: "pg_backup_*.tar.gz"}]
    stop_grace_period: 20s
    backups: {dir: %q, require_checksum: true}
    checks:
%s      database_url: %s
      data_query: %s
      fingerprint_query: %q
      health_timeout: %s
approvers:
  - {name: alice, role: on-call}
  - {name: bob, role: senior}
`, temporalAddr, e.taskQueue, e.host, filepath.Join(e.dir, "state"), cmpDuration(o.heartbeat, 20*time.Second), e.evidence, e.project, e.composeFile, e.dir, p.volume, e.backups,
		health, p.url, tradesCount, tradesFingerprint, cmpDuration(o.healthTimeout, time.Minute))
	require.NoError(t, os.WriteFile(e.config, []byte(body), 0o600))
	return p
}

func cmpDuration(d, fallback time.Duration) time.Duration {
	if d == 0 {
		return fallback
	}
	return d
}

// up starts the stack, fills its trades table with rows and removes it all when the test
// ends.
func (p *pgStack) up(rows int) {
	p.t.Helper()
	c := p.compose()
	p.t.Cleanup(func() { _ = c.Run(context.Background(), "down", "-v", "--remove-orphans", "-t", "0") })
	require.NoError(p.t, c.Run(context.Background(), "up", "-d"))
	require.NoError(p.t, demostack.WaitHealthy(context.Background(), p.s.engine, p.project))
	p.sql("CREATE TABLE trades (id bigint PRIMARY KEY, qty bigint NOT NULL)",
		fmt.Sprintf("INSERT INTO trades SELECT i, (i * 7919) %% 1000 FROM generate_series(1, %d) AS i", rows))
}

func (p *pgStack) sql(statements ...string) {
	p.t.Helper()
	for _, st := range statements {
		require.NoError(p.t, probe.Exec(context.Background(), nil, p.url, st), st)
	}
}

// fingerprint is the trades' count and sum as the server answers now.
func (p *pgStack) fingerprint() string {
	p.t.Helper()
	row, err := probe.QueryRow(context.Background(), nil, p.url, tradesFingerprint)
	require.NoError(p.t, err)
	return probe.Row(row)
}

// backup is the runbook's backup, made the consistent way for PostgreSQL: the stack
// stopped, `tar -czf` of the volume's folder, a `sha256sum` sidecar; then the stack runs
// again. The data's fingerprint is recorded beside it (or want, to record a wrong one).
// It returns the fingerprint of the data backed up.
func (p *pgStack) backup(want ...string) string {
	p.t.Helper()
	fp := p.fingerprint()
	ctx := context.Background()
	c := p.compose()
	require.NoError(p.t, c.Run(ctx, "stop", "-t", "20"))
	info, err := p.s.engine.VolumeInspect(ctx, p.volume, client.VolumeInspectOptions{})
	require.NoError(p.t, err)
	volumes := filepath.Dir(filepath.Dir(info.Volume.Mountpoint))
	name := "pg_backup_" + time.Now().UTC().Format("20060102_150405") + ".tar.gz"
	out, err := exec.Command("tar", "-czf", filepath.Join(p.backups, name), "-C", volumes, p.volume).CombinedOutput()
	require.NoError(p.t, err, "tar: %s", out)
	cmd := exec.Command("sha256sum", name)
	cmd.Dir = p.backups
	sum, err := cmd.Output()
	require.NoError(p.t, err)
	require.NoError(p.t, os.WriteFile(filepath.Join(p.backups, name+".sha256"), sum, 0o644))
	recorded := fp
	if len(want) > 0 {
		recorded = want[0]
	}
	require.NoError(p.t, os.WriteFile(filepath.Join(p.backups, backups.FingerprintName(name)), []byte(recorded+"\n"), 0o644))
	require.NoError(p.t, c.Run(ctx, "start"))
	require.NoError(p.t, demostack.WaitHealthy(ctx, p.s.engine, p.project))
	return fp
}

// damage is the bad deploy: half the trades deleted.
func (p *pgStack) damage() string {
	p.t.Helper()
	p.sql("DELETE FROM trades WHERE id % 2 = 0")
	return p.fingerprint()
}

// requireServing checks PostgreSQL runs on the stack's own volume, answers with want, and
// never panicked: nothing moved under it.
func (p *pgStack) requireServing(want string) {
	p.t.Helper()
	ctx := context.Background()
	list, err := p.s.engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", docker.ProjectLabel+"="+p.project)})
	require.NoError(p.t, err)
	require.Len(p.t, list.Items, 1)
	info, err := p.s.engine.ContainerInspect(ctx, list.Items[0].ID, client.ContainerInspectOptions{})
	require.NoError(p.t, err)
	require.True(p.t, info.Container.State.Running, "PostgreSQL runs (exit code %d)", info.Container.State.ExitCode)
	require.Len(p.t, info.Container.Mounts, 1)
	require.Equal(p.t, p.volume, info.Container.Mounts[0].Name)
	require.EventuallyWithT(p.t, func(c *assert.CollectT) {
		row, err := probe.QueryRow(ctx, nil, p.url, tradesFingerprint)
		if assert.NoError(c, err) {
			assert.Equal(c, want, probe.Row(row))
		}
	}, time.Minute, 200*time.Millisecond, "PostgreSQL answers with the data")
	logs, err := p.s.engine.ContainerLogs(ctx, list.Items[0].ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	require.NoError(p.t, err)
	defer logs.Close()
	var out strings.Builder
	_, _ = io.Copy(&out, logs)
	require.NotContains(p.t, out.String(), "PANIC", "PostgreSQL never lost its files")
}

// report is the rollback's incident report, as `rewind report` prints it.
func (p *pgStack) report(id string) string {
	p.t.Helper()
	code, out, errOut := p.rewind("report", id)
	require.Equal(p.t, 0, code, errOut)
	return out
}

// TestPostgresP1FullRollbackBringsBackTheBackedUpRows: a P1 full rollback of a real
// PostgreSQL restores exactly the backed-up rows (count and sum); the server answers and
// the verification passes over the wire.
func TestPostgresP1FullRollbackBringsBackTheBackedUpRows(t *testing.T) {
	t.Parallel()
	s := needDocker(t)
	srv, c := startTemporal(t)
	p := newPGStack(t, s, srv.GRPCAddr(), pgOptions{})
	p.up(100_000)
	want := p.backup()
	require.Equal(t, "100000 | 49950000", want)
	require.Equal(t, "50000 | 25000000", p.damage())
	p.startWorker()

	code, out, errOut := p.rewind("start", "full", "--stack", p.stack, "--severity", "P1", "--reason", "trades deleted by a bad deploy", "--as", "alice", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)

	p.requireServing(want)
	id := api.WorkflowID(p.stack)
	p.requireVerifiedOverTheWire(p.report(id), want)
	history(t, c, id).safeOrder(t)
	requireNoStaging(t, s, p.project)
}

// TestPostgresP2FullRollbackBringsBackTheBackedUpRowsAfterApproval: the same with a
// senior's approval.
func TestPostgresP2FullRollbackBringsBackTheBackedUpRowsAfterApproval(t *testing.T) {
	t.Parallel()
	s := needDocker(t)
	srv, c := startTemporal(t)
	p := newPGStack(t, s, srv.GRPCAddr(), pgOptions{})
	p.up(100_000)
	want := p.backup()
	p.damage()
	p.startWorker()

	code, out, errOut := p.rewind("start", "full", "--stack", p.stack, "--severity", "P2", "--reason", "trades deleted by a bad deploy", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	id := api.WorkflowID(p.stack)
	p.awaitApprovalGate(id)
	code, out, errOut = p.rewind("approve", id, "--as", "bob", "--reason", "backup checked")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	p.awaitCompleted(c, id)

	p.requireServing(want)
	p.requireVerifiedOverTheWire(p.report(id), want)
	require.Contains(t, p.report(id), "bob — accepted: approved by bob (senior)")
	requireNoStaging(t, s, p.project)
}

func (p *pgStack) requireVerifiedOverTheWire(report, want string) {
	p.t.Helper()
	require.Contains(p.t, report, "| database answers | pass | PostgreSQL 15.")
	require.Contains(p.t, report, "| data integrity | pass | "+tradesCount+" → 100000 |")
	require.Contains(p.t, report, "| data is the backup's ("+p.volume+") | pass | "+tradesFingerprint+" → "+strings.ReplaceAll(want, "|", `\|`)+" |")
}

// TestPostgresFailedVerificationLeavesTheServerRunningOnTheDataAsFound: the restored data
// is not what the backup recorded, so the verification fails after the start; the
// put-back stops PostgreSQL before its data goes back, starts it again on the data as found
// (the damaged rows) and says so truly.
func TestPostgresFailedVerificationLeavesTheServerRunningOnTheDataAsFound(t *testing.T) {
	t.Parallel()
	s := needDocker(t)
	srv, c := startTemporal(t)
	p := newPGStack(t, s, srv.GRPCAddr(), pgOptions{})
	p.up(100_000)
	p.backup("99999 | 1") // a fingerprint the restored data does not have
	found := p.damage()
	p.startWorker()

	id := p.startPG("P1")
	err := p.failure(c, id)
	p.requireServing(found)
	msg := message(err)
	require.Contains(t, msg, "verification failed: data is the backup's ("+p.volume+")")
	require.Contains(t, msg, "put back and healthy: what it started stopped, volume "+p.volume+" back in place, the stack started again; evidence: ")
	runs := history(t, c, id)
	require.Greater(t, runs.scheduledAt["UnswapVolume"], lastStop(t, c, id), "PostgreSQL stopped before its data was renamed back")
	requireNoStaging(t, s, p.project)
}

// TestPostgresHealthWaitThatTimesOutLeavesTheServerRunningOnTheDataAsFound: the health
// endpoint never answers, so the health wait times out; the put-back stops PostgreSQL
// before its data goes back, starts it on the data as found, waits on it, and says it is
// not healthy (its endpoint still does not answer): what is true.
func TestPostgresHealthWaitThatTimesOutLeavesTheServerRunningOnTheDataAsFound(t *testing.T) {
	t.Parallel()
	s := needDocker(t)
	srv, c := startTemporal(t)
	nowhere := fmt.Sprintf("http://127.0.0.1:%d/health", freePort(t))
	p := newPGStack(t, s, srv.GRPCAddr(), pgOptions{healthURL: nowhere, healthTimeout: 5 * time.Second})
	p.up(100_000)
	p.backup()
	found := p.damage()
	p.startWorker()

	id := p.startPG("P1")
	err := p.failure(c, id)
	p.requireServing(found)
	msg := message(err)
	requireType(t, err, failure.NotHealthy)
	require.Contains(t, msg, "put back: what it started stopped, volume "+p.volume+" back in place, the stack started again; not healthy: project "+p.project+" not healthy after 5s: still waiting for "+nowhere)
	require.Contains(t, msg, "(as found: not healthy: "+nowhere, "its health endpoint did not answer before the rollback either")
	require.Greater(t, history(t, c, id).scheduledAt["UnswapVolume"], lastStop(t, c, id), "PostgreSQL stopped before its data was renamed back")
	requireNoStaging(t, s, p.project)
}

// startPG starts a full rollback of the stack through the CLI.
func (p *pgStack) startPG(severity string) string {
	p.t.Helper()
	code, out, errOut := p.rewind("start", "full", "--stack", p.stack, "--severity", severity, "--reason", "trades deleted by a bad deploy", "--as", "alice")
	require.Equal(p.t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	return api.WorkflowID(p.stack)
}

// lastStop is the event ID of the last StopProject scheduled: the put-back's stop.
func lastStop(t testing.TB, c sdkclient.Client, id string) int64 {
	t.Helper()
	runs := history(t, c, id)
	require.Equal(t, 2, runs.scheduled["StopProject"], "the rollback's stop and the put-back's")
	return runs.scheduledAt["StopProject"]
}

// TestPostgresPutBackSurvivesAWorkerKilledInsideIt: the worker dies (SIGKILL) inside the
// put-back, right after it renamed PostgreSQL's damaged data back and before Temporal heard
// of it; a fresh worker does the rename again (done already: nothing moves), starts the
// server on the data as found and waits on it, and the record is true.
func TestPostgresPutBackSurvivesAWorkerKilledInsideIt(t *testing.T) {
	t.Parallel()
	s := needDocker(t)
	srv, c := startTemporal(t)
	p := newPGStack(t, s, srv.GRPCAddr(), pgOptions{heartbeat: 5 * time.Second})
	p.up(100_000)
	p.backup("99999 | 1") // the verification fails after the start
	found := p.damage()
	doomed := p.startWorker("REWIND_CRASH_AT=after:UnswapVolume")

	id := p.startPG("P1")
	doomed.crashed(t)
	p.startWorker()
	err := p.failure(c, id)
	p.requireServing(found)
	require.Contains(t, message(err), "put back and healthy: what it started stopped, volume "+p.volume+" back in place, the stack started again; evidence: ")
	runs := history(t, c, id)
	require.Equal(t, 2, runs.attempt["UnswapVolume"], "the rename back ran again on the fresh worker")
	require.Greater(t, runs.scheduledAt["UnswapVolume"], lastStop(t, c, id), "PostgreSQL stopped before its data was renamed back")
	requireNoStaging(t, s, p.project)
}
