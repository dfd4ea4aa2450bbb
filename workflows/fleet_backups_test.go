package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestAGroupsApprovalNamesTheBackupOfEachStack: a full rollback of a group names, before
// its gate opens, the newest backup with a sha256 of each stack whose drill did not fail
// (the stack's rollback would skip that one); bob's approval is for those, and each
// stack's rollback is pinned to its own.
func TestAGroupsApprovalNamesTheBackupOfEachStack(t *testing.T) {
	r := newFleetRig(t)
	var b *backup.Activities
	r.RegisterActivity(&backup.Activities{})
	var d *drill.Activities
	r.RegisterActivity(&drill.Activities{})
	r.OnActivity(d.Drills, mock.Anything, mock.Anything).Return(func(_ context.Context, in drill.StackInput) (map[string]backups.Drill, error) {
		if in.Stack == "staging" {
			return map[string]backups.Drill{"b_2.tar.gz": {Name: "b_2.tar.gz", SHA256: sha('2'), OK: false}}, nil
		}
		return map[string]backups.Drill{"b_2.tar.gz": {Name: "b_2.tar.gz", SHA256: sha('2'), OK: true}}, nil
	})
	var listed []backup.ListInput
	r.OnActivity(b.ListBackups, mock.Anything, mock.Anything).Return(func(_ context.Context, in backup.ListInput) ([]backup.Listed, error) {
		listed = append(listed, in)
		return []backup.Listed{{Object: objectNamed("b_3.tar.gz")}, {Object: objectNamed("b_2.tar.gz"), SHA256: sha('2')}, {Object: objectNamed("b_1.tar.gz"), SHA256: sha('1')}}, nil
	})
	r.RegisterWorkflow(Full)
	var children []api.Request
	r.OnWorkflow(Full, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, req api.Request) (api.Result, error) {
		children = append(children, req)
		return api.Result{Stack: req.Stack, Outcome: "completed"}, nil
	})
	var gate []string
	r.RegisterDelayedCallback(func() {
		q, err := r.QueryWorkflow(api.ProgressQuery)
		require.NoError(t, err)
		var p api.Progress
		require.NoError(t, q.Get(&p))
		require.NotNil(t, p.Gate, "the group waits for approval")
		gate = p.Gate.Backups
	}, time.Minute)
	var got string
	r.RegisterDelayedCallback(func() {
		r.UpdateWorkflow(api.DecideUpdate, "bob", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { got = "refused: " + err.Error() },
			OnComplete: func(v any, err error) {
				if err == nil {
					got = v.(api.DecisionRecord).Reason
				}
			},
		}, api.Decision{Approver: "bob", Approve: true})
	}, 2*time.Minute)
	req := groupRequest()
	req.Option, req.Severity, req.Ref = api.OptionFull, "P2", ""

	r.ExecuteWorkflow(Fleet, r.sign(t, req, api.GroupWorkflowID("markets")))

	require.NoError(t, r.GetWorkflowError())
	require.Len(t, listed, 2, "each stack's backups listed once, on its host")
	want := []string{"prod:b_2.tar.gz " + sha('2'), "staging:b_1.tar.gz " + sha('1')}
	require.Equal(t, want, gate)
	require.Equal(t, "approved by bob (senior) to restore "+want[0]+", "+want[1], got)
	require.Len(t, children, 2)
	restores := map[string]string{"prod": "b_2.tar.gz " + sha('2'), "staging": "b_1.tar.gz " + sha('1')}
	for _, c := range children {
		require.Equal(t, []string{restores[c.Stack]}, c.GroupBackups, c.Stack)
		require.Equal(t, strings.Fields(restores[c.Stack])[0], c.Backup, "%s restores only what was approved", c.Stack)
		require.Contains(t, c.GroupDecision, "to restore "+want[0])
	}
}

// TestAStackOfAGroupRestoresOnlyWhatTheGroupApproved: the group's approval named
// db_data_1 for prod, but prod's rollback would restore db_data_2: it stops before the
// stack is touched. Named what it restores, it goes on.
func TestAStackOfAGroupRestoresOnlyWhatTheGroupApproved(t *testing.T) {
	for _, tc := range []struct {
		name  string
		named []string
		want  string
	}{
		{"another backup", []string{"db_data_1.tar.gz " + sha('1')}, "group markets's approval named db_data_1.tar.gz " + sha('1') + " for prod, but this rollback would restore db_data_2.tar.gz " + sha('2')},
		{"the backup it restores", []string{"db_data_2.tar.gz " + sha('2')}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{first: func(r *rig) {
				r.RegisterWorkflowWithOptions(forgedGroup, workflow.RegisterOptions{Name: "ForgedFleet"})
				var p *policy.Activities
				r.OnActivity(p.Execution, mock.Anything, mock.Anything).Return(policy.Execution{Found: true, Type: api.FleetWorkflow, Queue: "default-test-taskqueue", Running: true, Ours: true}, nil)
			}})
			r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.GroupWorkflowID("markets")})
			req := request(api.OptionFull, "P2", "alice")
			req.Group, req.GroupDecision, req.GroupBackups = "markets", "approved by bob (senior)", tc.named

			r.ExecuteWorkflow("ForgedFleet", req)

			err := r.GetWorkflowError()
			if tc.want == "" {
				require.NoError(t, err)
				require.True(t, r.ran("start containers"))
				return
			}
			require.Equal(t, failure.NotAuthorized, errorType(t, err))
			require.ErrorContains(t, err, tc.want)
			require.False(t, r.ran("stop"), "the stack is not touched")
			require.True(t, r.ran("remove staging"))
		})
	}
}
