package workflows

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hiddeco/sshsig"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// signedForStaging is alice's start signed for stack staging, sent for prod.
func signedForStaging(r *rig) api.Request {
	req := request(api.OptionFull, "P1", "alice")
	req.Stack = "staging"
	signed := r.signedRequest(req)
	signed.Stack = "prod"
	return signed
}

// TestASignedStartStartsOnlyWhatItSays reuses alice's signed start as someone who read
// it in a history would: for another stack's workflow ID, with another backup, with a flag
// she did not set, for another reason, with a statement of an older release or one good
// for too long. Each is refused naming what differs, before any step on the host.
func TestASignedStartStartsOnlyWhatItSays(t *testing.T) {
	for _, tc := range []struct {
		name string
		// forge turns alice's signed request into the one sent.
		forge func(r *rig) api.Request
		id    string
		kind  string
		want  string
	}{
		{"signed for another stack, run as it", signedForStaging, api.WorkflowID("staging"), failure.BadInput, "a rollback of stack prod runs only as workflow rewind-prod, not rewind-staging"},
		{"signed for another stack, run as this one", signedForStaging, "", failure.NotAuthorized, `signed for workflow "rewind-staging", this is workflow "rewind-prod"`},
		{"another backup", func(r *rig) api.Request {
			signed := r.signedRequest(request(api.OptionFull, "P1", "alice"))
			signed.Backup = "db_data_1.tar.gz"
			return signed
		}, "", failure.NotAuthorized, `signed to restore backup "", the request pins "db_data_1.tar.gz"`},
		{"no-put-back set after signing", func(r *rig) api.Request {
			signed := r.signedRequest(request(api.OptionFull, "P1", "alice"))
			signed.NoPutBack = true
			return signed
		}, "", failure.NotAuthorized, "signed with no-put-back: no, the request has no-put-back: yes"},
		{"another version", func(r *rig) api.Request {
			signed := r.signedRequest(request(api.OptionQuick, "P1", "alice"))
			signed.Ref, signed.Reset = "v1.0", true
			return signed
		}, "", failure.NotAuthorized, `signed for version "", the request goes back to "v1.0"`},
		{"another reason", func(r *rig) api.Request {
			signed := r.signedRequest(request(api.OptionFull, "P1", "alice"))
			signed.Reason = "routine"
			return signed
		}, "", failure.NotAuthorized, "signed for another reason"},
		{"signed by an older rewind", func(r *rig) api.Request {
			req := request(api.OptionFull, "P1", "alice")
			v1 := []byte("rewind signed statement v1\nworkflow: rewind-prod\nrun:\nperson: alice\naction: start full\nseverity: P1\nbackup:\nexpires: " +
				time.Now().Add(5*time.Minute).UTC().Format("2006-01-02T15:04:05Z") + "\n")
			sig, err := sshsig.Sign(bytes.NewReader(v1), r.people["alice"].signer(r.t), sshsig.HashSHA512, identity.Namespace)
			require.NoError(r.t, err)
			req.Statement, req.Signature = string(v1), string(sshsig.Armor(sig))
			return req
		}, "", failure.NotAuthorized, "alice's signature is refused: parse statement: \"start full\" as rewind signed statement v1: signed by an older rewind: sign again"},
		{"good for an hour", func(r *rig) api.Request {
			return r.signedAs(request(api.OptionFull, "P1", "alice"), api.WorkflowID("prod"), func(st *identity.Statement) {
				st.Expires = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
			})
		}, "", failure.NotAuthorized, "alice's statement is good for longer than 10m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{signatures: true})
			if tc.id != "" {
				r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: tc.id})
			}
			r.ExecuteWorkflow(Full, tc.forge(r))
			err := r.GetWorkflowError()
			require.Error(t, err)
			require.Equal(t, tc.kind, errorType(t, err))
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "nothing was changed")
			require.Empty(t, r.calls, "refused before any step on the host")
			claims, err := r.nonces.List(context.Background(), "nonces/")
			if err == nil {
				require.Empty(t, claims, "a refused start claims no nonce")
			}
		})
	}
}

// TestASignedStartIsAdmittedOnce: the nonce of alice's start is claimed by the run it
// admits; a retry of that run is admitted again, another run with the same statement is
// refused before anything.
func TestASignedStartIsAdmittedOnce(t *testing.T) {
	r := newRig(t, rigOptions{signatures: true})
	signed := r.signedRequest(request(api.OptionFull, "P1", "alice"))
	st, err := identity.ParseStatement([]byte(signed.Statement))
	require.NoError(t, err)

	r.ExecuteWorkflow(Full, signed)
	require.NoError(t, r.GetWorkflowError())
	require.True(t, r.ran("start containers"))
	claims, err := r.nonces.List(context.Background(), "nonces/")
	require.NoError(t, err)
	require.Len(t, claims, 1, "the run claimed the nonce")

	// A retried admission of the same run finds its own claim.
	require.NoError(t, (&policy.Activities{Nonces: r.nonces}).ClaimNonce(context.Background(),
		policy.NonceClaim{Nonce: st.Nonce, WorkflowID: api.WorkflowID("prod"), RunID: testRunID}))

	// Another run of a statement a first run used: the store holds that run's claim.
	second := newRig(t, rigOptions{signatures: true})
	signed = second.signedRequest(request(api.OptionFull, "P1", "alice"))
	st, err = identity.ParseStatement([]byte(signed.Statement))
	require.NoError(t, err)
	require.NoError(t, (&policy.Activities{Nonces: second.nonces}).ClaimNonce(context.Background(),
		policy.NonceClaim{Nonce: st.Nonce, WorkflowID: api.WorkflowID("prod"), RunID: "the-first-run", Person: "alice"}))
	second.ExecuteWorkflow(Full, signed)
	err = second.GetWorkflowError()
	require.Equal(t, failure.NotAuthorized, errorType(t, err))
	require.ErrorContains(t, err, "this signed start was already used by rewind-prod run the-first-run at ")
	require.ErrorContains(t, err, "nothing was changed")
	require.Empty(t, second.calls, "refused before any step on the host")
}

// TestAPersonWithKeysMustSignWhateverThePolicySays: erin has keys; with
// require_signatures off her unsigned start is refused, her signed one admitted.
func TestAPersonWithKeysMustSignWhateverThePolicySays(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "erin"))
	err := r.GetWorkflowError()
	require.Equal(t, failure.NotAuthorized, errorType(t, err))
	require.ErrorContains(t, err, "erin has keys: sign with ssh-agent or --key")
	require.Empty(t, r.calls, "refused before any step on the host")

	r = newRig(t, rigOptions{})
	r.ExecuteWorkflow(Full, r.signedRequest(request(api.OptionFull, "P1", "erin")))
	require.NoError(t, r.GetWorkflowError())

	// alice has no keys and the policy takes her word.
	r = newRig(t, rigOptions{})
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))
	require.NoError(t, r.GetWorkflowError())
}

// TestARollbackRunsOnlyAsItsStacksWorkflow: unsigned too, a rollback of prod under another
// workflow ID, or naming a group whose rollback did not start it, is refused.
func TestARollbackRunsOnlyAsItsStacksWorkflow(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "rewind-prod-2"})
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))
	err := r.GetWorkflowError()
	require.Equal(t, failure.BadInput, errorType(t, err))
	require.ErrorContains(t, err, "a rollback of stack prod runs only as workflow rewind-prod, not rewind-prod-2, so that two never run at once")
	require.Empty(t, r.calls)

	r = newRig(t, rigOptions{})
	req := request(api.OptionFull, "P2", "alice")
	req.Group, req.GroupDecision = "markets", "approved by bob (senior)"
	r.ExecuteWorkflow(Full, req)
	err = r.GetWorkflowError()
	require.Equal(t, failure.BadInput, errorType(t, err))
	require.ErrorContains(t, err, `this rollback names group "markets" but was not started by that group's rollback rewind-group-markets`)
	require.Empty(t, r.calls, "a forged group approval skips no gate")
}

// forgedGroup is a workflow of anyone's that took a group's workflow ID and starts a
// stack's rollback as its child, with a group decision of its own making.
func forgedGroup(ctx workflow.Context, req api.Request) (api.Result, error) {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: api.WorkflowID(req.Stack)})
	var res api.Result
	err := workflow.ExecuteChildWorkflow(cctx, Full, req).Get(cctx, &res)
	return res, err
}

// TestAStackOfAGroupTrustsOnlyRewindsGroupRollback: the parent's workflow ID is the
// group's, but the server says it is not Rewind's group rollback on this queue, so its
// "approved for the group" skips no gate and nothing runs on the host.
func TestAStackOfAGroupTrustsOnlyRewindsGroupRollback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parent policy.Execution
		want   string
	}{
		{"a workflow of anyone's", policy.Execution{Found: true, Type: "ForgedFleet", Queue: "mallory", Running: true},
			"this rollback's parent rewind-group-markets run default-test-run-id is a ForgedFleet on mallory, not Rewind's group rollback on default-test-taskqueue: its group decision counts for nothing"},
		{"Rewind's group rollback", policy.Execution{Found: true, Type: api.FleetWorkflow, Queue: "default-test-taskqueue", Running: true, Ours: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []policy.ExecutionInput
			r := newRig(t, rigOptions{first: func(r *rig) {
				r.RegisterWorkflowWithOptions(forgedGroup, workflow.RegisterOptions{Name: "ForgedFleet"})
				var p *policy.Activities
				r.OnActivity(p.Execution, mock.Anything, mock.Anything).Return(func(_ context.Context, in policy.ExecutionInput) (policy.Execution, error) {
					asked = append(asked, in)
					return tc.parent, nil
				})
			}})
			r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.GroupWorkflowID("markets")})
			req := request(api.OptionFull, "P2", "alice")
			req.Group, req.GroupDecision = "markets", "approved by bob (senior)"

			r.ExecuteWorkflow("ForgedFleet", req)

			require.Len(t, asked, 1)
			require.Equal(t, policy.ExecutionInput{WorkflowID: api.GroupWorkflowID("markets"), RunID: testRunID, Types: []string{api.FleetWorkflow}, TaskQueue: "default-test-taskqueue"}, asked[0])
			err := r.GetWorkflowError()
			if tc.want == "" {
				require.NoError(t, err)
				require.True(t, r.ran("start containers"), "the group's approval counts")
				return
			}
			require.Equal(t, failure.NotAuthorized, errorType(t, err))
			require.ErrorContains(t, err, tc.want)
			require.Empty(t, r.calls, "no gate skipped, nothing ran on the host")
		})
	}
}
