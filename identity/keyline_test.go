package identity

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func testKeyLine(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	key, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), key
}

func TestKeyLineOptionsAreHonouredOrRefusedByName(t *testing.T) {
	line, key := testKeyLine(t)
	for _, tc := range []struct{ line, want string }{
		{`from="10.0.0.0/8" ` + line, "option from= is not supported by Rewind: remove it"},
		{`cert-authority ` + line, "option cert-authority is not supported by Rewind: remove it"},
		{`command="true",expiry-time="20300101Z" ` + line, "option command= is not supported by Rewind: remove it"},
		{`no-pty ` + line, "option no-pty is not supported by Rewind: remove it"},
		{`expiry-time="20300101" ` + line, `time "20300101" has no Z suffix`},
		{`expiry-time="20300101Z",expiry-time="20310101Z" ` + line, "given twice"},
	} {
		_, err := ParseKeyLine(tc.line)
		require.ErrorContains(t, err, tc.want, tc.line)
	}

	k, err := ParseKeyLine(`expiry-time="202612031015Z" ` + line + " bob@laptop")
	require.NoError(t, err)
	require.Equal(t, key.Marshal(), k.Key.Marshal())
	at := time.Date(2026, 12, 3, 10, 15, 0, 0, time.UTC)
	require.True(t, k.ValidAt(at.Add(999*time.Millisecond)), "good in the second it names, as sshd")
	require.False(t, k.ValidAt(at.Add(time.Second)))

	valid, expired := KeysAt([]string{`expiry-time="202612031015Z" ` + line, line}, at.Add(time.Minute))
	require.Len(t, valid, 1)
	require.Len(t, expired, 1)
}

func TestSharedKeysNameBothHolders(t *testing.T) {
	line, key := testKeyLine(t)
	_, other := testKeyLine(t)
	file, err := ParseAllowedSigners([]byte("carol " + line + "\nbob " + line + "\n"))
	require.NoError(t, err)
	holders := append([]KeyHolder{{Key: key, Name: "alice", Where: "approvers[0].keys[0]"}, {Key: other, Name: "bob", Where: "approvers[1].keys[0]"}},
		file.Holders([]string{"alice", "bob", "carol"}, Namespace)...)
	shared := SharedKeys(holders)
	require.Len(t, shared, 1)
	require.Contains(t, shared[0], "is listed under alice and carol and bob (approvers[0].keys[0] as alice, allowed signers line 1 as carol, allowed signers line 2 as bob)")

	wild, err := ParseAllowedSigners([]byte("* " + line + "\n"))
	require.NoError(t, err)
	require.Len(t, SharedKeys(wild.Holders([]string{"alice", "bob"}, Namespace)), 1, "a pattern that names two people gives one key two names")
	require.Empty(t, SharedKeys(wild.Holders([]string{"alice"}, Namespace)))
}

func TestARecordedKeyLineCarriesItsValidAfter(t *testing.T) {
	line, _ := testKeyLine(t)
	_, err := ParseKeyLine(`valid-after="20260101Z" ` + line)
	require.ErrorContains(t, err, "option valid-after= is not supported by Rewind: remove it", "authorized_keys has no valid-after")
	k, err := ParseRecordedKeyLine(`valid-after="20261203101500Z",expiry-time="20261203110000Z" ` + line)
	require.NoError(t, err)
	from := time.Date(2026, 12, 3, 10, 15, 0, 0, time.UTC)
	require.False(t, k.ValidAt(from.Add(-time.Second)))
	require.Equal(t, "is valid only from 2026-12-03T10:15:00Z (its valid-after)", k.Window(from.Add(-time.Second)))
	require.True(t, k.ValidAt(from))
	require.False(t, k.ValidAt(from.Add(time.Hour)))
	require.Equal(t, "expired at 2026-12-03T11:00:00Z (its expiry-time or valid-before)", k.Window(from.Add(time.Hour)))
}
