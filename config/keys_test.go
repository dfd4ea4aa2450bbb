package config

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func publicKeyLine(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	key, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

func TestAKeyLineOptionRewindCannotHonourIsRefusedByName(t *testing.T) {
	key := publicKeyLine(t)
	p := writeConfig(t, fmt.Sprintf(`
approvers:
  - {name: alice, role: on-call, keys: [%q]}
  - {name: bob, role: senior, keys: [%q, %q]}
`, `expiry-time="20300101Z" `+key, publicKeyLine(t), `from="10.0.0.0/8" `+publicKeyLine(t)))
	_, err := Load(p, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "approvers[1].keys[1]: option from= is not supported by Rewind: remove it")
	require.NotContains(t, err.Error(), "approvers[0]", "expiry-time= is honoured")
}

func TestOneKeyIsOnePerson(t *testing.T) {
	key := publicKeyLine(t)
	p := writeConfig(t, fmt.Sprintf(`
approvers:
  - {name: alice, role: on-call, keys: [%q]}
  - {name: bob, role: senior, keys: [%q]}
`, key, key+" bob@laptop"))
	_, err := Load(p, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "is listed under alice and bob (approvers[0].keys[0] as alice, approvers[1].keys[0] as bob): one key is one person")

	// The allowed signers file gives alice's key to carol too.
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	require.NoError(t, os.WriteFile(signers, []byte("carol "+key+"\n"), 0o600))
	p = writeConfig(t, fmt.Sprintf(`
policy: {allowed_signers: %q}
approvers:
  - {name: alice, role: on-call, keys: [%q]}
  - {name: carol, role: tech-lead}
`, signers, key))
	_, err = Load(p, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "is listed under alice and carol (approvers[0].keys[0] as alice, allowed signers line 1 as carol)")
}

func TestACheckURLWithASecretIsRefusedSayingHowToPassIt(t *testing.T) {
	for _, tc := range []struct{ field, url, want string }{
		{"health_url", "http://api:5002/health?Token=abc", "stacks.prod.checks.health_url: query parameter Token in the URL"},
		{"functional_url", "https://u:pw@api/x", "stacks.prod.checks.functional_url: a password (user:password@) in the URL"},
		{"functional_url", "https://api/x?sig=1", "a header is not supported: use a URL without the secret"},
		{"database_url", "postgres://app:pw@db:5432/market", "set PGPASSWORD or ~/.pgpass for the worker"},
		{"database_url", "http://questdb:9000?api_key=1", "stacks.prod.checks.database_url: query parameter api_key in the URL"},
	} {
		p := writeConfig(t, fmt.Sprintf("stacks:\n  prod:\n    compose_files: [c.yml]\n    checks: {%s: %q}\n", tc.field, tc.url))
		_, err := Load(p, nil)
		require.Error(t, err, tc.url)
		require.Contains(t, err.Error(), tc.want)
		require.NotContains(t, err.Error(), "pw", "the secret is not repeated")
	}
	p := writeConfig(t, "stacks:\n  prod:\n    compose_files: [c.yml]\n    checks: {health_url: \"http://api:5002/health?monkey=1\", database_url: \"postgres://app@db/market\"}\n")
	_, err := Load(p, nil)
	require.NoError(t, err, "a parameter that only ends in key is no secret")
}
