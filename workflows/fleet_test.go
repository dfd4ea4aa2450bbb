package workflows

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

// fleetRig runs a group rollback of prod and staging whose stacks' rollbacks are mocked:
// it is about the group's own admission. alice (on-call) has keys; signatures are off.
type fleetRig struct {
	*testsuite.TestWorkflowEnvironment
	alice   ssh.Signer
	nonces  *storage.Folder
	started []string
}

func newFleetRig(t *testing.T) *fleetRig {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`
stacks:
  prod: {project: p, compose_files: [c.yml], volumes: [{name: db, pattern: "b_*.tar.gz"}], backups: {dir: /backups}}
  staging: {project: s, compose_files: [c.yml], volumes: [{name: db, pattern: "b_*.tar.gz"}], backups: {dir: /backups}}
groups:
  markets: {stacks: [prod, staging]}
approvers:
  - {name: alice, role: on-call, keys: [%q]}
  - {name: bob, role: senior}
`, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))))), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)
	nonces, err := storage.NewFolder(filepath.Join(t.TempDir(), "evidence"))
	require.NoError(t, err)

	var s testsuite.WorkflowTestSuite
	r := &fleetRig{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), alice: signer, nonces: nonces}
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.GroupWorkflowID("markets")})
	r.RegisterWorkflow(Fleet)
	r.RegisterWorkflow(Quick)
	r.RegisterActivity(&policy.Activities{Config: cfg, Host: "docker-1", Nonces: nonces})
	r.RegisterActivity(&notify.Activities{})
	var n *notify.Activities
	r.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(notify.Result{}, nil)
	r.OnWorkflow(Quick, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, req api.Request) (api.Result, error) {
		r.started = append(r.started, workflow.GetInfo(ctx).WorkflowExecution.ID)
		return api.Result{Stack: req.Stack, Outcome: "completed"}, nil
	})
	return r
}

func groupRequest() api.Request {
	return api.Request{Group: "markets", Option: api.OptionQuick, Severity: "P1", Reason: "API 500s after deploy", Requester: "alice", Ref: "v2.5"}
}

func (r *fleetRig) sign(t *testing.T, req api.Request, workflowID string) api.Request {
	t.Helper()
	nonce, err := identity.NewNonce()
	require.NoError(t, err)
	st := api.StartStatement(req, workflowID, time.Now().Add(5*time.Minute).UTC().Truncate(time.Second), nonce)
	sig, err := identity.Sign(r.alice, st)
	require.NoError(t, err)
	req.Statement, req.Signature = string(st.Text()), sig
	return req
}

func TestAGroupStartsOnlyAsItsGroupsWorkflowAndOnlyWhatItsRequesterSigned(t *testing.T) {
	r := newFleetRig(t)
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "rewind-group-other"})
	r.ExecuteWorkflow(Fleet, r.sign(t, groupRequest(), api.GroupWorkflowID("markets")))
	err := r.GetWorkflowError()
	require.Equal(t, failure.BadInput, errorType(t, err))
	require.ErrorContains(t, err, "a rollback of group markets runs only as workflow rewind-group-markets, not rewind-group-other")
	require.Empty(t, r.started)

	r = newFleetRig(t)
	forged := r.sign(t, groupRequest(), api.GroupWorkflowID("markets"))
	forged.Ref = "v1.0"
	r.ExecuteWorkflow(Fleet, forged)
	err = r.GetWorkflowError()
	require.Equal(t, failure.NotAuthorized, errorType(t, err))
	require.ErrorContains(t, err, `signed for version "v2.5", the request goes back to "v1.0"`)
	require.Empty(t, r.started)

	r = newFleetRig(t)
	r.ExecuteWorkflow(Fleet, groupRequest())
	require.ErrorContains(t, r.GetWorkflowError(), "alice has keys: sign with ssh-agent or --key")
	require.Empty(t, r.started)

	r = newFleetRig(t)
	r.ExecuteWorkflow(Fleet, r.sign(t, groupRequest(), api.GroupWorkflowID("markets")))
	require.NoError(t, r.GetWorkflowError())
	require.ElementsMatch(t, []string{api.WorkflowID("prod"), api.WorkflowID("staging")}, r.started, "each stack as its own workflow, the group's child")
	claims, err := r.nonces.List(context.Background(), "nonces/")
	require.NoError(t, err)
	require.Len(t, claims, 1, "the group's run claimed its start's nonce")
}
