package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// fleet is n stacks, each its own compose project on its own host name, in one group of
// one rewind.yaml; each env's copy of the file names its own host for its worker.
func fleet(t *testing.T, s *suite, temporalAddr string, n int, group string) []*env {
	t.Helper()
	envs := make([]*env, n)
	var stacks []string
	for i := range envs {
		host := uniqueName("host-")
		envs[i] = newEnv(t, s, temporalAddr, stackOptions{grace: 2 * time.Second, stack: uniqueName("desk-"), stackHost: host})
		stacks = append(stacks, envs[i].stack)
	}
	section := func(e *env) string { return stackBlock(t, e) }
	var blocks []string
	for _, e := range envs {
		blocks = append(blocks, section(e))
	}
	for _, e := range envs {
		body, err := os.ReadFile(e.config)
		require.NoError(t, err)
		text := strings.Replace(string(body), section(e), strings.Join(blocks, ""), 1)
		// One Temporal task queue for the fleet; each worker on its own host.
		text = strings.Replace(text, fmt.Sprintf("task_queue: %q", e.taskQueue), fmt.Sprintf("task_queue: %q", envs[0].taskQueue), 1)
		host := hostOf(t, section(e))
		text = strings.Replace(text, fmt.Sprintf("worker: {host: %q", e.host), fmt.Sprintf("worker: {host: %q", host), 1)
		e.host = host
		text += fmt.Sprintf("groups:\n  trading:\n    stacks: [%s]\n%s", strings.Join(stacks, ", "), group)
		require.NoError(t, os.WriteFile(e.config, []byte(text), 0o600))
		e.taskQueue = envs[0].taskQueue
	}
	return envs
}

// stackBlock is the stacks section of an env's rewind.yaml.
func stackBlock(t testing.TB, e *env) string {
	t.Helper()
	body, err := os.ReadFile(e.config)
	require.NoError(t, err)
	_, rest, _ := strings.Cut(string(body), "stacks:\n")
	block, _, _ := strings.Cut(rest, "approvers:\n")
	return block
}

// hostOf reads the host a stack's block of rewind.yaml names.
func hostOf(t *testing.T, block string) string {
	t.Helper()
	for _, line := range strings.Split(block, "\n") {
		if h, ok := strings.CutPrefix(strings.TrimSpace(line), "host: "); ok {
			return h
		}
	}
	t.Fatalf("no host in %q", block)
	return ""
}

// TestGroupRollbackOnThreeHosts rolls back a group of three stacks, each on its own host
// with its own worker, with one request and one approval; the worker of the third host
// is killed in the middle of its restore and started again. Every stack ends with its
// backup's data and no step of any stack ran twice.
func TestGroupRollbackOnThreeHosts(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	envs := fleet(t, s, srv.GRPCAddr(), 3, "    concurrency: 3\n")
	for i, e := range envs {
		e.up()
		if i == 2 {
			require.NoError(t, demostack.Pad(context.Background(), s.engine, e.project, padFiles, 1<<20))
		}
		_, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
		require.NoError(t, err)
		require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	}
	envs[0].startWorker()
	envs[1].startWorker()
	crashing := envs[2].startWorker("REWIND_CRASH_AT=during:restore@5MiB")

	lead := envs[0]
	code, out, errOut := lead.rewind("start", "full", "--group", "trading", "--severity", "P2", "--reason", "bad market data on every desk", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "started full rollback of group trading")
	id := api.GroupWorkflowID("trading")
	lead.awaitApprovalGate(id)
	for _, e := range envs {
		_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
		require.ErrorAs(t, err, new(*serviceerror.NotFound), "no stack is touched before the group's approval")
	}
	code, out, errOut = lead.rewind("approve", id, "--as", "bob")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)

	crashing.crashed(t)
	envs[2].startWorker()
	lead.awaitCompleted(c, id)
	recordHistory(t, c, id, "fleet/full-three-hosts.json")
	for _, e := range envs {
		e.awaitRestored(c, api.WorkflowID(e.stack))
		runs := history(t, c, api.WorkflowID(e.stack))
		require.Zero(t, runs.stepsRunTwice(), "%s: steps ran again: %v", e.stack, runs.scheduled)
	}
	code, out, _ = lead.rewind("status", id)
	require.Equal(t, 0, code)
	for _, e := range envs {
		require.Contains(t, out, fmt.Sprintf("✔ Roll back %s on %s", e.stack, e.host))
	}
	require.Contains(t, out, "approved by bob (senior)")
	code, out, _ = lead.rewind("status", api.WorkflowID(envs[1].stack))
	require.Equal(t, 0, code)
	require.Contains(t, out, "group trading: approved by bob (senior)", "each stack shares the group's approval")
	s.report.add(chaosRow{scenario: "group of three hosts, one worker killed mid-restore", outcome: "all three completed after one approval"})
}

// TestGroupStopsAtTheFirstFailedStack: with on_failure stop and one stack at a time, a
// stack that cannot roll back (it has no backup) fails the group, and the stacks after it
// are never started.
func TestGroupStopsAtTheFirstFailedStack(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	envs := fleet(t, s, srv.GRPCAddr(), 3, "    concurrency: 1\n    on_failure: stop\n")
	for _, e := range envs {
		e.startWorker()
	}
	code, out, errOut := envs[0].rewind("start", "full", "--group", "trading", "--severity", "P1", "--reason", "no backups anywhere", "--as", "alice", "--wait")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, errOut, "1 of 3 stacks of group trading failed: "+envs[0].stack+": ")
	for _, e := range envs[1:] {
		_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
		require.ErrorAs(t, err, new(*serviceerror.NotFound), "%s was never started", e.stack)
	}
	code, out, _ = envs[0].rewind("status", api.GroupWorkflowID("trading"))
	require.Equal(t, 0, code)
	require.Contains(t, out, "not started: the group stops on the first failure")
}
