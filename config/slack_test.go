package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSlackApprovalsAreConfiguredWholeOrRefusedByName: a Slack member ID that is not one,
// a proof Rewind does not know, and slack proofs without the bridge key or a way for
// clicks to arrive are each refused, naming the key and what to write.
func TestSlackApprovalsAreConfiguredWholeOrRefusedByName(t *testing.T) {
	_, err := Load(writeConfig(t, `
approvers:
  - {name: bob, role: senior, slack: "@bob"}
severity:
  levels:
    P1: {role: on-call}
    P2: {role: senior, decision_time: 15m, hard_deadline: 1h, proofs: [slack, email]}
    P3: {role: tech-lead, decision_time: 1h, hard_deadline: 4h}
`), nil)
	require.Error(t, err)
	for _, want := range []string{
		`approvers[0].slack`, "Slack member ID, like U024BE7LH",
		`severity.levels.P2.proofs[0]`, "policy.slack_key set to the Slack bridge's private SSH key",
		`severity.levels.P2.proofs[1]`, `"email"`, "ssh (a signature with the person's key) or slack",
	} {
		require.Contains(t, err.Error(), want)
	}

	_, err = Load(writeConfig(t, `
policy: {slack_key: /etc/rewind/slack_bridge}
approvers:
  - {name: bob, role: senior, slack: U024BE7LH}
severity:
  levels:
    P1: {role: on-call}
    P2: {role: senior, decision_time: 15m, hard_deadline: 1h, proofs: [slack]}
    P3: {role: tech-lead, decision_time: 1h, hard_deadline: 4h}
`), nil)
	require.ErrorContains(t, err, "notify.slack.app_token_env (Socket Mode) or notify.slack.signing_secret_env (HTTP)")

	cfg, err := Load(writeConfig(t, `
policy: {slack_key: /etc/rewind/slack_bridge}
notify: {channel: C0INCIDENTS, slack: {bot_token_env: SLACK_BOT_TOKEN, app_token_env: SLACK_APP_TOKEN}}
approvers:
  - {name: bob, role: senior, slack: U024BE7LH}
severity:
  levels:
    P1: {role: on-call}
    P2: {role: senior, decision_time: 15m, hard_deadline: 1h, proofs: [ssh, slack]}
    P3: {role: tech-lead, decision_time: 1h, hard_deadline: 4h}
`), nil)
	require.NoError(t, err)
	policy, err := cfg.policy("P2", nil)
	require.NoError(t, err)
	require.True(t, policy.Accepts(ProofSlack))
	require.True(t, policy.Accepts(ProofSSH))
	require.Equal(t, "U024BE7LH", policy.People[0].Slack)
	p3, err := cfg.policy("P3", nil)
	require.NoError(t, err)
	require.False(t, p3.Accepts(ProofSlack), "a rule without proofs never takes Slack's word")
	require.True(t, p3.Accepts(ProofSSH))
}

// TestOneSlackUserIsOneApprover: two approvers with one Slack member ID are refused,
// naming both, for the bridge could not tell which of them clicked.
func TestOneSlackUserIsOneApprover(t *testing.T) {
	_, err := Load(writeConfig(t, `
approvers:
  - {name: bob, role: senior, slack: U024BE7LH}
  - {name: carol, role: tech-lead, slack: U0CAROL}
  - {name: dan, role: tech-lead, slack: U024BE7LH}
`), nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), `approvers[2].slack`)
	require.Contains(t, err.Error(), "approvers[0] (bob) has it too, so a click could not say whether it was dan who decided")
	require.NotContains(t, err.Error(), `approvers[1].slack`)
}
