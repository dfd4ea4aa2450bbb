package integration

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows"
	"github.com/algotrendy/rewind/workflows/api"
)

// sshKey makes an ed25519 key pair with Debian's ssh-keygen and returns the private key's
// path and the public key's authorized_keys line.
func sshKey(t testing.TB, name string) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput()
	require.NoError(t, err, "ssh-keygen (install openssh-client): %s", out)
	pub, err := os.ReadFile(path + ".pub")
	require.NoError(t, err)
	return path, strings.TrimSpace(string(pub))
}

// sshSign signs a file by hand as the operators do: ssh-keygen -Y sign -n rewind.
func sshSign(t testing.TB, key, file string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", "rewind", "-f", key, file).CombinedOutput()
	require.NoError(t, err, "ssh-keygen -Y sign: %s", out)
	return file + ".sig"
}

// sshAgent starts an ssh-agent holding key and returns its socket; it ends with the test.
func sshAgent(t testing.TB, key string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	out, err := exec.Command("ssh-agent", "-s", "-a", sock).Output()
	require.NoError(t, err, "ssh-agent (install openssh-client)")
	pid := regexp.MustCompile(`SSH_AGENT_PID=(\d+)`).FindStringSubmatch(string(out))
	require.NotNil(t, pid, "ssh-agent said: %s", out)
	t.Cleanup(func() { _ = exec.Command("kill", pid[1]).Run() })
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	msg, err := add.CombinedOutput()
	require.NoError(t, err, "ssh-add: %s", msg)
	return sock
}

// historyText is a run's whole history as JSON with its payloads decoded, for what must
// never appear in it.
func historyText(t testing.TB, c sdkclient.Client, id, runID string) string {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(context.Background(), id, runID, false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	b, err := protojson.Marshal(&historypb.History{Events: events})
	require.NoError(t, err)
	// Payloads (inputs, results, details) are base64 in JSON: search them decoded too.
	text := string(b)
	for _, m := range payloadData.FindAllStringSubmatch(text, -1) {
		decoded, err := base64.StdEncoding.DecodeString(m[1])
		require.NoError(t, err)
		text += "\n" + string(decoded)
	}
	return text
}

var payloadData = regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]*)"`)

func runIDOf(t testing.TB, c sdkclient.Client, id string) string {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	require.NoError(t, err)
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

// TestForgedStartsThroughTheSDKRunNothing starts Rewind's workflows straight through the
// SDK, as someone with access to the namespace but not to the worker's configuration
// would: a request carrying its own target and policy, and a verification of their own.
func TestForgedStartsThroughTheSDKRunNothing(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{})
	e.startWorker()
	marker := filepath.Join(t.TempDir(), "owned")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	forged := map[string]any{
		"Stack": e.stack, "Option": "full", "Severity": "P3", "Reason": "routine", "Requester": "mallory",
		"Target": map[string]any{"Project": e.project, "Volumes": []string{"payments_db"}, "ComposeCommand": []string{"sh", "-c", "touch " + marker}},
		"Policy": map[string]any{"Rule": map[string]any{"Role": "on-call"}, "Approvers": []map[string]any{{"Name": "mallory", "Role": "engineering-manager"}}},
	}
	run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: api.WorkflowID(e.stack), TaskQueue: e.taskQueue}, "Full", forged)
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	// The worker reads the stack's target and policy from its own configuration: the forged
	// ones are not even read, and mallory is no one there.
	requireType(t, err, failure.NotAuthorized)
	require.ErrorContains(t, err, "mallory")
	require.Zero(t, len(history(t, c, run.GetID()).scheduled), "no activity was scheduled")
	require.NoFileExists(t, marker, "the forged compose command never ran")

	verify, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: "forged-verify", TaskQueue: e.taskQueue}, "Verify",
		workflows.VerifyRequest{Stack: e.stack, Project: e.project, HostQueue: "rewind@" + e.host})
	require.NoError(t, err)
	err = verify.Get(ctx, nil)
	requireType(t, err, failure.BadInput)
	require.ErrorContains(t, err, "verification runs only as a step of a Rewind rollback")
	require.Zero(t, len(history(t, c, verify.GetID()).scheduled), "no check ran")
}

// TestSignedStartsAndDecisionsWithOpenSSH runs a P2 full rollback twice under
// require_signatures with keys made, held and used by Debian's OpenSSH: refused starts
// leave no workflow, refused decisions say why, the first run is rejected through
// ssh-agent and the second approved with a signature made by hand; the unreachable
// webhook's secret path appears in no history and no log.
func TestSignedStartsAndDecisionsWithOpenSSH(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	alice, alicePub := sshKey(t, "alice")
	bob, bobPub := sshKey(t, "bob")
	_, carolPub := sshKey(t, "carol")
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, webhook: "on",
		config: "policy: {require_signatures: true}\n", keys: map[string]string{"alice": alicePub, "bob": bobPub, "carol": carolPub}})
	e.up()
	e.goodBackup()
	w := e.startWorker("REWIND_TEST_WEBHOOK=http://127.0.0.1:1/services/T000/SECRET")
	id := api.WorkflowID(e.stack)
	start := []string{"start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "corrupt market data"}

	code, _, errOut := e.rewind(append(start, "--as", "mallory")...)
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "mallory is not in the policy")
	code, _, errOut = e.rewind(append(start, "--as", "alice")...)
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "this worker requires signatures")
	_, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	var notFound *serviceerror.NotFound
	require.True(t, errors.As(err, &notFound), "a refused start leaves no workflow: %v", err)

	// Run 1: rejected by bob through ssh-agent.
	code, out, errOut := e.rewind(append(start, "--as", "alice", "--key", alice)...)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	e.awaitApprovalGate(id)
	run1 := runIDOf(t, c, id)
	code, _, errOut = e.rewind("approve", id, "--as", "bob", "--reason", "ok")
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "this worker requires signatures")

	statement := func(name string) string {
		code, out, errOut := e.rewind("approve", id, "--as", "bob", "--print-statement")
		require.Equal(t, 0, code, errOut)
		path := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(path, []byte(out), 0o600))
		return path
	}
	decide := func(st, sig string) (int, string) {
		code, out, errOut := e.rewind("approve", id, "--as", "bob", "--reason", "backup checked", "--statement", st, "--signature", sig)
		return code, out + errOut
	}
	byAlice := statement("by-alice")
	code, msg := decide(byAlice, sshSign(t, alice, byAlice))
	require.Equal(t, 2, code, msg)
	require.Contains(t, msg, "signing key is not allowed")
	expired := statement("expired")
	body, err := os.ReadFile(expired)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(expired, regexp.MustCompile(`(?m)^expires: .*$`).ReplaceAll(body, []byte("expires: 2026-01-01T00:00:00Z")), 0o600))
	code, msg = decide(expired, sshSign(t, bob, expired))
	require.Equal(t, 2, code, msg)
	require.Contains(t, msg, "statement expired at 2026-01-01T00:00:00Z")
	forRun1 := statement("for-run-1")
	forRun1Sig := sshSign(t, bob, forRun1)

	agent := sshAgent(t, bob)
	code, out, errOut = e.rewindWith([]string{"SSH_AUTH_SOCK=" + agent}, "reject", id, "--as", "bob", "--reason", "wait for the vendor")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "accepted")
	requireType(t, e.failure(c, id), failure.Rejected)

	// Run 2: a decision signed for run 1 is refused; one signed by hand for run 2 counts.
	code, out, errOut = e.rewind(append(start, "--as", "alice", "--key", alice)...)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	e.awaitApprovalGate(id)
	run2 := runIDOf(t, c, id)
	require.NotEqual(t, run1, run2)
	code, msg = decide(forRun1, forRun1Sig)
	require.Equal(t, 2, code, msg)
	require.Contains(t, msg, "signed for run \""+run1+"\", this is run \""+run2+"\"")
	forRun2 := statement("for-run-2")
	code, msg = decide(forRun2, sshSign(t, bob, forRun2))
	require.Equal(t, 0, code, msg)
	e.awaitCompleted(c, id)

	histories := historyText(t, c, id, run1) + historyText(t, c, id, run2) + historyText(t, c, id+"-verify", "")
	require.Contains(t, histories, "http://127.0.0.1:1", "the webhook was tried and its failure recorded")
	require.NotContains(t, histories, "SECRET", "the webhook's secret path is in no history")
	require.NotContains(t, w.logs.String(), "SECRET", "nor in the worker's log")
}

// TestASignedStartReadFromHistoryStartsNothingElse plays someone who can write to the
// namespace and read every history, starting Rewind's workflow through the SDK as no CLI
// would. require_signatures is off, as in the default configuration, but alice has keys.
// A statement alice signed is accepted once, for exactly what it names: under another
// workflow ID, for another stack, with a backup or a flag she did not sign, a second
// time, or unsigned in her name, nothing is scheduled on the host.
func TestASignedStartReadFromHistoryStartsNothingElse(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	alice, alicePub := sshKey(t, "alice")
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{keys: map[string]string{"alice": alicePub}})
	w := e.startWorker()
	require.Equal(t, 1, strings.Count(w.logs.String(), "anyone with write access to the namespace can start and approve as any person without keys"),
		"the worker says once what it takes on word:\n%s", w.logs)
	signer, err := identity.FileSigner(alice)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := api.WorkflowID(e.stack)

	request := func() api.Request {
		return api.Request{Stack: e.stack, Option: api.OptionFull, Severity: "P2", Reason: "market_data corrupted", Requester: "alice", RequestedAt: time.Now()}
	}
	sign := func(req api.Request, workflowID string) api.Request {
		nonce, err := identity.NewNonce()
		require.NoError(t, err)
		st := api.StartStatement(req, workflowID, time.Now().Add(5*time.Minute).UTC().Truncate(time.Second), nonce)
		sig, err := identity.Sign(signer, st)
		require.NoError(t, err)
		req.Statement, req.Signature = string(st.Text()), sig
		return req
	}
	start := func(workflowID string, req api.Request) (string, error) {
		run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: workflowID, TaskQueue: e.taskQueue}, "Full", req)
		require.NoError(t, err)
		return run.GetRunID(), run.Get(ctx, nil)
	}
	refused := func(workflowID string, req api.Request, kind, why string) {
		t.Helper()
		_, err := start(workflowID, req)
		requireType(t, err, kind)
		require.ErrorContains(t, err, why)
		require.ErrorContains(t, err, "nothing was changed")
		require.Zero(t, len(history(t, c, workflowID).scheduled), "refused before any step was scheduled: %v", history(t, c, workflowID).scheduled)
	}

	// Alice's start of the stack, as `rewind start` signs it, is admitted and reaches the host.
	signed := sign(request(), id)
	run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: id, TaskQueue: e.taskQueue}, "Full", signed)
	require.NoError(t, err)
	require.EventuallyWithT(t, func(col *assert.CollectT) {
		assert.NotZero(col, len(history(t, c, id).scheduled), "the signed start was admitted and scheduled its first step")
	}, time.Minute, 100*time.Millisecond)
	require.NoError(t, c.CancelWorkflow(ctx, id, run.GetRunID()))
	err = run.Get(ctx, nil)
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.False(t, errors.As(err, &appErr) && appErr.Type() == failure.NotAuthorized, "the first run was admitted: %v", err)

	// The same statement, read from that run's history, a second time.
	refused(id, signed, failure.NotAuthorized, "this signed start was already used by "+id+" run "+run.GetRunID())

	// Signed for staging, sent for this stack with a backup and no put-back she never asked for.
	staging := request()
	staging.Stack = "staging"
	forged := sign(staging, api.WorkflowID("staging"))
	forged.Stack, forged.Backup, forged.NoPutBack = e.stack, "mallory.tar.gz", true
	refused(api.WorkflowID("staging"), forged, failure.BadInput, "a rollback of stack "+e.stack+" runs only as workflow "+id+", not rewind-staging")
	refused(id, forged, failure.NotAuthorized, `alice's signature is refused: signed for workflow "rewind-staging", this is workflow "`+id+`"`)

	// Signed for this stack, with a backup or a flag added after.
	withBackup := sign(request(), id)
	withBackup.Backup = "mallory.tar.gz"
	refused(id, withBackup, failure.NotAuthorized, `signed to restore backup "", the request pins "mallory.tar.gz"`)
	noPutBack := sign(request(), id)
	noPutBack.NoPutBack = true
	refused(id, noPutBack, failure.NotAuthorized, "signed with no-put-back: no, the request has no-put-back: yes")

	// Unsigned, in the name of a person with keys.
	refused(id, request(), failure.NotAuthorized, "alice has keys: sign with ssh-agent or --key")

	nonces, err := os.ReadDir(filepath.Join(e.evidence, "nonces"))
	require.NoError(t, err)
	require.Len(t, nonces, 1, "only the admitted run claimed a nonce")
}

// TestKeysAreCheckedWhenTheyAreUsed: bob's key is in the allowed signers file when alice
// starts a P2 rollback; the file is edited while the rollback waits, and the real worker
// judges each of bob's decisions (signed with ssh-keygen's key through the CLI) by the
// file as it is then: past its valid-before, refused; removed, refused; back, accepted.
// A file that gives alice's key to bob too is then refused by `rewind config check` and
// by the worker at start, naming both.
func TestKeysAreCheckedWhenTheyAreUsed(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	alice, alicePub := sshKey(t, "alice")
	bob, bobPub := sshKey(t, "bob")
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	writeSigners := func(body string) { require.NoError(t, os.WriteFile(signers, []byte(body), 0o600)) }
	writeSigners("bob " + bobPub + "\n")
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second,
		config: "policy: {require_signatures: true, allowed_signers: " + strconv.Quote(signers) + "}\n", keys: map[string]string{"alice": alicePub}})
	e.up()
	e.goodBackup()
	e.startWorker()
	id := api.WorkflowID(e.stack)

	code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "corrupt market data", "--as", "alice", "--key", alice)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	e.awaitApprovalGate(id)
	approve := func() (int, string) {
		code, out, errOut := e.rewind("approve", id, "--as", "bob", "--reason", "backup checked", "--key", bob)
		return code, out + errOut
	}

	writeSigners(`bob valid-before="20260101Z" ` + bobPub + "\n")
	code, msg := approve()
	require.Equal(t, 2, code, msg)
	require.Contains(t, msg, "bob's signature is refused")
	require.Contains(t, msg, "which is not among the 0 allowed")

	writeSigners("# bob's key was removed\n")
	code, msg = approve()
	require.Equal(t, 2, code, msg)
	require.Contains(t, msg, "which is not among the 0 allowed")
	e.awaitApprovalGate(id)

	writeSigners("bob " + bobPub + "\n")
	code, msg = approve()
	require.Equal(t, 0, code, msg)
	require.Contains(t, msg, "accepted: approved by bob (senior)")
	e.awaitCompleted(c, id)
	var res api.Result
	require.NoError(t, c.GetWorkflow(context.Background(), id, "").Get(context.Background(), &res))
	require.Equal(t, 2, strings.Count(res.Report, "a decision as bob was refused when its keys were read again"), "each refusal is in the incident report:\n%s", res.Report)

	writeSigners("bob " + alicePub + "\n")
	code, _, errOut = e.rewind("config", "check")
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "is listed under alice and bob (approvers[0].keys[0] as alice, allowed signers line 1 as bob): one key is one person")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	worker := exec.CommandContext(ctx, filepath.Join(e.bin, "worker"), "--config", e.config, "--listen", "127.0.0.1:0")
	said, err := worker.CombinedOutput()
	require.Error(t, err, "the worker does not start: %s", said)
	require.Contains(t, string(said), "is listed under alice and bob")
}
