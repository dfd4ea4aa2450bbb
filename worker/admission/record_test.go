package admission

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// keyOf is a new SSH key: its signer and its authorized_keys line.
func keyOf(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
}

// The worker admits a run on the decisions sent to it exactly as the gate judged them:
// a Slack click counts, signed by the bridge, where the severity names slack, even for a
// person with SSH keys; nowhere else, and no unsigned decision where the severity names
// proofs.
func TestAdmissionProvesApprovalsAsTheGateDoes(t *testing.T) {
	bridge, bridgeKey := keyOf(t)
	bob, bobKey := keyOf(t)
	const workflowID, runID = "rewind-prod", "run-1"
	at := time.Now().UTC().Truncate(time.Second)
	policy := func(requireSignatures bool, proofs ...string) config.Policy {
		return config.Policy{
			Severity: "P2", Rule: config.Rule{Role: "senior", Proofs: proofs}, Escalation: []string{"on-call", "senior", "tech-lead"},
			People: []config.Person{
				{Name: "alice", Role: "on-call"},
				{Name: "bob", Role: "senior", Keys: []string{bobKey}, Slack: "U0BOB"},
				{Name: "dan", Role: "senior", Slack: "U0DAN"},
			},
			RequireSignatures: requireSignatures, SlackKey: bridgeKey,
		}
	}
	signed := func(by ssh.Signer, who string) api.Decision {
		st := identity.Statement{WorkflowID: workflowID, RunID: runID, Person: who, Action: identity.ActionApprove, Severity: "P2",
			Backup: strings.Repeat("2", 64), Expires: at.Add(5 * time.Minute)}
		sig, err := identity.Sign(by, st)
		require.NoError(t, err)
		return api.Decision{Approver: who, Approve: true, Statement: string(st.Text()), Signature: sig}
	}
	fromSlack := func(who, user string) api.Decision {
		d := signed(bridge, who)
		d.Proof = api.SlackProof(user)
		return d
	}
	unsigned := api.Decision{Approver: "dan", Approve: true}
	for _, tc := range []struct {
		name string
		pol  config.Policy
		d    api.Decision
		want string // "" admits
	}{
		{"a Slack click by an approver with SSH keys", policy(false, "ssh", "slack"), fromSlack("bob", "U0BOB"), ""},
		{"a Slack click where signatures are required", policy(true, "slack"), fromSlack("dan", "U0DAN"), ""},
		{"an SSH signature by the approver's key", policy(false, "ssh", "slack"), signed(bob, "bob"), ""},
		{"an unsigned decision where the severity names no proofs", policy(false), unsigned, ""},
		{"a Slack click where the severity names no proofs", policy(false), fromSlack("dan", "U0DAN"), "cannot be taken from Slack"},
		{"a Slack click where the severity names only ssh", policy(false, "ssh"), fromSlack("bob", "U0BOB"), "cannot be taken from Slack"},
		{"a Slack click by another Slack user", policy(false, "slack"), fromSlack("bob", "U0DAN"), "is not bob"},
		{"a Slack claim signed by the approver, not the bridge", policy(false, "slack"), func() api.Decision {
			d := signed(bob, "bob")
			d.Proof = api.SlackProof("U0BOB")
			return d
		}(), "not signed for this by the worker's Slack bridge"},
		{"an unsigned decision where the severity takes only Slack", policy(false, "slack"), unsigned, "taken only from Slack"},
		{"an unsigned decision where the severity takes only SSH", policy(false, "ssh"), unsigned, "must be proven by ssh"},
		{"the bridge's signature without Slack proof", policy(false, "ssh", "slack"), signed(bridge, "bob"), "bob's signature is refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sentDecision{Decision: tc.d, at: at}
			err := proveApproval(tc.pol, "alice", d, workflowID, runID)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
