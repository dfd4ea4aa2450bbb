package workflows

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// slackRig is a rig whose policy takes decisions from Slack at P2 (proofs p2) and only SSH
// signatures at P3; bob is Slack user U0BOB, alice U0ALICE; bridge is the worker's Slack
// bridge key (policy.slack_key).
type slackRig struct {
	*rig
	bridge person
}

func newSlackRig(t *testing.T, p2 string) *slackRig {
	t.Helper()
	bridge := newPerson(t, "slack-bridge", "")
	block, err := ssh.MarshalPrivateKey(bridge.key, "")
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "slack_bridge")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))
	r := newRig(t, rigOptions{
		slack:  map[string]string{"bob": "U0BOB", "alice": "U0ALICE", "erin": "U0ERIN"},
		policy: ", slack_key: " + keyFile,
		yaml: `
notify: {slack: {app_token_env: REWIND_TEST_SLACK_APP_TOKEN}}
severity:
  levels:
    P1: {role: on-call, decision_time: 0s, hard_deadline: 0s}
    P2: {role: senior, decision_time: 15m, hard_deadline: 1h, proofs: ` + p2 + `}
    P3: {role: tech-lead, decision_time: 1h, hard_deadline: 4h, proofs: [ssh]}
`,
	})
	// The worker reads the bridge key once, at its start.
	r.pol.SlackKey, err = policy.SlackPublicKey(keyFile)
	require.NoError(t, err)
	return &slackRig{rig: r, bridge: bridge}
}

// send sends d as an update after a while and keeps the gate's answer, whether the
// validator or the handler gave it.
func (r *slackRig) send(after time.Duration, d api.Decision, got *[]string) {
	r.RegisterDelayedCallback(func() {
		r.UpdateWorkflow(api.DecideUpdate, fmt.Sprint("decision-", after), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { *got = append(*got, "refused: "+err.Error()) },
			OnComplete: func(v any, err error) {
				if err != nil {
					*got = append(*got, "refused: "+err.Error())
					return
				}
				*got = append(*got, "accepted: "+v.(api.DecisionRecord).Reason)
			},
		}, d)
	}, after)
}

// fromSlack is the decision the bridge sends when the Slack user clicks for who, signed
// by signer (the bridge, or anyone claiming to be it).
func (r *slackRig) fromSlack(signer person, who, user string, severity string) api.Decision {
	st := identity.Statement{WorkflowID: api.WorkflowID("prod"), RunID: testRunID, Severity: severity, Backup: sha('2')}
	d := r.signed(signer, true, st)
	// signed names the signer as the person; the bridge signs for the approver.
	st.Person, st.Action, st.Expires = who, identity.ActionApprove, time.Now().Add(30*time.Minute).UTC().Truncate(time.Second)
	sig, err := identity.Sign(signer.signer(r.t), st)
	require.NoError(r.t, err)
	d.Approver, d.Statement, d.Signature, d.Proof = who, string(st.Text()), sig, api.SlackProof(user)
	return d
}

// TestAClickInSlackApprovesWhereThePolicyNamesSlack: bob's click, signed by the bridge,
// opens the gate; the decision log and the decided notice carry its proof.
func TestAClickInSlackApprovesWhereThePolicyNamesSlack(t *testing.T) {
	r := newSlackRig(t, "[ssh, slack]")
	var got []string
	r.send(5*time.Minute, r.fromSlack(r.bridge, "bob", "U0BOB", "P2"), &got)
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P2", "alice"))

	require.NoError(t, r.GetWorkflowError(), "%q", got)
	require.Equal(t, []string{"accepted: approved by bob (senior) to restore db_data_2.tar.gz " + sha('2')}, got)
	var accepted []api.DecisionRecord
	for _, d := range r.progress().Decisions {
		if d.Accepted {
			accepted = append(accepted, d)
		}
	}
	require.Len(t, accepted, 1)
	require.Equal(t, "slack:U0BOB", accepted[0].Proof)
	var decided []notify.Decision
	for _, ev := range r.events {
		if ev.Kind == notify.KindDecided {
			decided = append(decided, ev.Decision)
		}
	}
	require.Equal(t, []notify.Decision{{By: "bob", Verdict: notify.VerdictApproved, Note: accepted[0].Reason, Proof: "slack:U0BOB"}}, decided)
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Contains(t, res.Report, `bob — accepted: approved by bob (senior) to restore db\_data\_2.tar.gz `+sha('2')+" (proof: slack:U0BOB)")
}

// TestAnSSHDecisionRecordsItsKey: where SSH counts too, erin's signed decision is
// recorded with her key's fingerprint.
func TestAnSSHDecisionRecordsItsKey(t *testing.T) {
	r := newSlackRig(t, "[ssh, slack]")
	var got []string
	r.send(5*time.Minute, r.signed(r.people["erin"], true, identity.Statement{WorkflowID: api.WorkflowID("prod"), RunID: testRunID, Severity: "P2", Backup: sha('2')}), &got)
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P2", "alice"))

	require.NoError(t, r.GetWorkflowError())
	pub, err := ssh.NewPublicKey(r.people["erin"].key.Public())
	require.NoError(t, err)
	decisions := r.progress().Decisions
	require.Equal(t, "ssh:"+ssh.FingerprintSHA256(pub), decisions[len(decisions)-1].Proof)
}

// TestTheGateRefusesSlackClaimsItCannotProve: every other door to a Slack decision is
// refused with why, and the gate keeps waiting until its hard deadline, having changed
// nothing.
func TestTheGateRefusesSlackClaimsItCannotProve(t *testing.T) {
	for _, tc := range []struct {
		name, p2, severity string
		decision           func(r *slackRig) api.Decision
		want               string
	}{
		{"a severity whose proofs do not name slack", "[ssh, slack]", "P3",
			func(r *slackRig) api.Decision { return r.fromSlack(r.bridge, "carol", "U0CAROL", "P3") },
			"a P3 decision cannot be taken from Slack"},
		{"a Temporal client signing with its own key, not the bridge's", "[ssh, slack]", "P2",
			func(r *slackRig) api.Decision { return r.fromSlack(r.people["bob"], "bob", "U0BOB", "P2") },
			"not signed for this by the worker's Slack bridge"},
		{"an unsigned claim", "[ssh, slack]", "P2",
			func(r *slackRig) api.Decision {
				d := r.fromSlack(r.bridge, "bob", "U0BOB", "P2")
				d.Signature = ""
				return d
			}, "must be signed by the worker's Slack bridge"},
		{"another Slack user than the approver's", "[ssh, slack]", "P2",
			func(r *slackRig) api.Decision { return r.fromSlack(r.bridge, "bob", "U0ALICE", "P2") },
			"Slack user U0ALICE is not bob, whose Slack user is U0BOB"},
		{"a severity that takes SSH only", "[ssh]", "P2",
			func(r *slackRig) api.Decision { return r.fromSlack(r.bridge, "bob", "U0BOB", "P2") },
			"cannot be taken from Slack"},
		{"an SSH decision where only Slack counts", "[slack]", "P2",
			func(r *slackRig) api.Decision {
				return r.signed(r.people["erin"], true, identity.Statement{WorkflowID: api.WorkflowID("prod"), RunID: testRunID, Severity: "P2", Backup: sha('2')})
			}, "is taken only from Slack"},
		{"an unsigned CLI decision where proofs are named", "[ssh, slack]", "P2",
			func(r *slackRig) api.Decision { return api.Decision{Approver: "bob", Approve: true} },
			"must be proven by ssh or slack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSlackRig(t, tc.p2)
			var got []string
			r.send(5*time.Minute, tc.decision(r), &got)
			r.ExecuteWorkflow(Full, request(api.OptionFull, tc.severity, "alice"))

			require.Equal(t, failure.NoDecision, errorType(t, r.GetWorkflowError()))
			require.Len(t, got, 1)
			require.True(t, strings.HasPrefix(got[0], "refused: "), got[0])
			require.Contains(t, got[0], tc.want)
			require.False(t, r.ran("stop"), "nothing was changed")
		})
	}
}

// TestASlackDecisionIsJudgedByThePolicyAtUse: the approver's Slack user and the bridge
// key are read again when a click is recorded, as the person's keys are: a person whose
// Slack user the policy no longer names, or a click signed by a bridge key the worker no
// longer holds, does not count, though the plan of the rollback's start named both.
func TestASlackDecisionIsJudgedByThePolicyAtUse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *slackRig)
		want   string
	}{
		{"bob's Slack user removed since the start", func(r *slackRig) {
			for i, a := range r.pol.Config.Approvers {
				if a.Name == "bob" {
					r.pol.Config.Approvers[i].Slack = ""
				}
			}
		}, "bob has no Slack user in the policy"},
		{"the bridge key rotated since the start", func(r *slackRig) {
			pub, err := ssh.NewPublicKey(newPerson(r.t, "new-bridge", "").key.Public())
			require.NoError(r.t, err)
			r.pol.SlackKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
		}, "not signed for this by the worker's Slack bridge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSlackRig(t, "[ssh, slack]")
			r.RegisterDelayedCallback(func() { tc.change(r) }, 4*time.Minute)
			var got []string
			r.send(5*time.Minute, r.fromSlack(r.bridge, "bob", "U0BOB", "P2"), &got)
			r.ExecuteWorkflow(Full, request(api.OptionFull, "P2", "alice"))

			require.Equal(t, failure.NoDecision, errorType(t, r.GetWorkflowError()), "%q", got)
			require.Len(t, got, 1)
			require.Contains(t, got[0], "refused: ")
			require.Contains(t, got[0], tc.want)
			require.False(t, r.ran("stop"), "nothing was changed")
		})
	}
}
