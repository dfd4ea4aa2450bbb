package policy

import (
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/config"
)

// TestPlansCarryTheSlackKeyReadAtTheStart: the bridge key is read once, when the worker
// starts; a key file gone since fails no plan (an emergency included), and plans, group
// plans and a person's keys read at use all carry the key the worker holds.
func TestPlansCarryTheSlackKeyReadAtTheStart(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "slack_bridge")
	_, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))
	file := filepath.Join(dir, "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
policy: {slack_key: `+keyFile+`}
notify: {slack: {app_token_env: REWIND_TEST_SLACK_APP_TOKEN}}
stacks:
  prod: {project: prod, compose_files: [compose.yml], working_dir: /srv/prod, volumes: [{name: db, pattern: "db_*.tar.gz"}], backups: {dir: /backups}}
groups:
  all: {stacks: [prod]}
approvers:
  - {name: alice, role: on-call}
  - {name: bob, role: senior, slack: U0BOB}
severity:
  levels:
    P1: {role: on-call, decision_time: 0s, hard_deadline: 0s}
    P2: {role: senior, decision_time: 15m, hard_deadline: 1h, proofs: [ssh, slack]}
    P3: {role: tech-lead, decision_time: 1h, hard_deadline: 4h}
`), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)

	key, err := SlackPublicKey(keyFile)
	require.NoError(t, err)
	require.Contains(t, key, "ssh-ed25519 ")
	a := &Activities{Config: cfg, Host: "docker-1", SlackKey: key}
	require.NoError(t, os.Remove(keyFile))

	for _, severity := range []string{"P1", "P2"} {
		plan, err := a.Plan(context.Background(), ResolveInput{Stack: "prod", Severity: severity})
		require.NoError(t, err, "a plan reads no key file")
		require.Equal(t, key, plan.Policy.SlackKey)
	}
	group, err := a.GroupPlan(context.Background(), GroupInput{Group: "all", Severity: "P2"})
	require.NoError(t, err)
	require.Equal(t, key, group.Policy.SlackKey)
	now, err := a.KeysNow(context.Background(), KeysInput{Person: "bob"})
	require.NoError(t, err)
	require.Equal(t, PersonKeys{Person: "bob", Found: true, Slack: "U0BOB", SlackKey: key, SlackRead: true, At: now.At}, now)

	_, err = SlackPublicKey(keyFile)
	require.ErrorContains(t, err, "policy.slack_key "+keyFile+": ", "the worker's start names the key it could not read")
	require.ErrorContains(t, err, "or remove policy.slack_key")
}
