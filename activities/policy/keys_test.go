package policy

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/config"
)

func keyLine(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	key, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

// TestKeysAreReadWhenTheyAreUsed: the allowed signers file is read at each call, so a
// key added, removed or given to a second person counts from the next decision on.
func TestKeysAreReadWhenTheyAreUsed(t *testing.T) {
	bob, alice := keyLine(t), keyLine(t)
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	require.NoError(t, os.WriteFile(signers, []byte("bob "+bob+"\n"), 0o600))
	cfg := &config.Config{
		Policy:    config.PolicyOptions{AllowedSigners: signers},
		Approvers: []config.Approver{{Name: "alice", Role: "on-call", Keys: []string{alice}}, {Name: "bob", Role: "senior"}},
	}
	a := &Activities{Config: cfg}

	got, err := a.KeysNow(context.Background(), KeysInput{Person: "bob"})
	require.NoError(t, err)
	require.True(t, got.Found)
	require.Equal(t, []string{bob}, got.Keys)

	require.NoError(t, os.WriteFile(signers, []byte(`bob valid-before="20300101Z" `+bob+"\n"), 0o600))
	got, err = a.KeysNow(context.Background(), KeysInput{Person: "bob"})
	require.NoError(t, err)
	require.Equal(t, []string{`expiry-time="20300101000000Z" ` + bob}, got.Keys, "valid-before travels with the key")

	require.NoError(t, os.WriteFile(signers, []byte(`bob valid-before="20200101Z" `+bob+"\n"), 0o600))
	got, err = a.KeysNow(context.Background(), KeysInput{Person: "bob"})
	require.NoError(t, err)
	require.Empty(t, got.Keys, "a key past its window is no key")

	require.NoError(t, os.WriteFile(signers, []byte("bob "+alice+"\n"), 0o600))
	_, err = a.KeysNow(context.Background(), KeysInput{Person: "bob"})
	require.ErrorContains(t, err, "is listed under alice and bob (approvers[0].keys[0] as alice, allowed signers line 1 as bob): one key is one person")
	_, err = ReadAllowedSigners(cfg)
	require.ErrorContains(t, err, "listed under alice and bob", "the worker refuses to start on it too")

	require.NoError(t, os.WriteFile(signers, nil, 0o600))
	got, err = a.KeysNow(context.Background(), KeysInput{Person: "mallory"})
	require.NoError(t, err)
	require.False(t, got.Found)
}
