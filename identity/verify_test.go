package identity

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// testSigners are alice (allowed) and mallory (not), with keys from ssh-keygen.
type testSigners struct {
	alice, mallory ssh.PublicKey
	aliceKey       string // private key path
	malloryKey     string
}

func newSigners(t *testing.T) testSigners {
	t.Helper()
	dir := t.TempDir()
	var s testSigners
	s.aliceKey, s.alice = newKey(t, dir, "alice", "ed25519", "")
	s.malloryKey, s.mallory = newKey(t, dir, "mallory", "ed25519", "")
	return s
}

func TestVerifyRefuses(t *testing.T) {
	s := newSigners(t)
	st := startStatement()
	message := st.Text()
	good := keygenSign(t, s.aliceKey, Namespace, message)
	aliceOnly := []ssh.PublicKey{s.alice}

	tests := []struct {
		name     string
		armored  string
		message  []byte
		keys     []ssh.PublicKey
		now      time.Time
		wantIs   error
		wantText string
	}{
		{
			name:    "signed for git",
			armored: keygenSign(t, s.aliceKey, "git", message),
			message: message, keys: aliceOnly, now: testNow(),
			wantIs: ErrWrongNamespace, wantText: `signed in namespace "git", rewind wants "rewind"`,
		},
		{
			name:    "another key",
			armored: keygenSign(t, s.malloryKey, Namespace, message),
			message: message, keys: aliceOnly, now: testNow(),
			wantIs: ErrUnknownKey, wantText: "signed by ssh-ed25519 key " + ssh.FingerprintSHA256(s.mallory) + ", which is not among the 1 allowed",
		},
		{
			name:    "no keys allowed",
			armored: good, message: message, keys: nil, now: testNow(),
			wantIs: ErrUnknownKey, wantText: "not among the 0 allowed",
		},
		{
			name:    "tampered message",
			armored: good, message: bytes.Replace(message, []byte("P1"), []byte("P3"), 1), keys: aliceOnly, now: testNow(),
			wantIs: ErrBadSignature, wantText: "signature does not match the signed text",
		},
		{
			name:    "expired",
			armored: good, message: message, keys: aliceOnly, now: st.Expires.Add(time.Second),
			wantIs: ErrExpired, wantText: "statement expired at 2026-07-01T12:15:00Z; it is now 2026-07-01T12:15:01Z",
		},
		{
			name:    "expires exactly now",
			armored: good, message: message, keys: aliceOnly, now: st.Expires,
			wantIs: ErrExpired, wantText: "statement expired at 2026-07-01T12:15:00Z",
		},
		{
			name:    "signed text is not a statement",
			armored: keygenSign(t, s.aliceKey, Namespace, []byte("hello\n")), message: []byte("hello\n"), keys: aliceOnly, now: testNow(),
			wantIs: ErrNotStatement, wantText: "line 1: want header",
		},
		{
			name:    "not armored",
			armored: "U1NIU0lH", message: message, keys: aliceOnly, now: testNow(),
			wantIs: ErrMalformedSignature, wantText: "does not start with -----BEGIN SSH SIGNATURE-----",
		},
		{
			name:    "text after the armor",
			armored: good + "and one more thing\n", message: message, keys: aliceOnly, now: testNow(),
			wantIs: ErrMalformedSignature, wantText: "text after -----END SSH SIGNATURE-----",
		},
		{
			name:    "truncated armor",
			armored: good[:len(good)/2], message: message, keys: aliceOnly, now: testNow(),
			wantIs: ErrMalformedSignature, wantText: "no complete armored block",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := Verify(tt.armored, tt.message, tt.keys, tt.now)
			require.ErrorIs(t, err, tt.wantIs)
			require.ErrorContains(t, err, tt.wantText)
			require.Nil(t, key)
		})
	}

	t.Run("the good signature passes", func(t *testing.T) {
		_, err := Verify(good, message, aliceOnly, testNow())
		require.NoError(t, err)
		// Surrounding blank lines, as from a terminal paste, are fine.
		_, err = Verify("\n"+good+"\n\n", message, aliceOnly, testNow())
		require.NoError(t, err)
		// Among several allowed keys, the signer is found and returned.
		key, err := Verify(good, message, []ssh.PublicKey{s.mallory, s.alice}, testNow())
		require.NoError(t, err)
		require.Equal(t, s.alice.Marshal(), key.Marshal())
	})
}

func TestCheckSaysWhichFieldDiffers(t *testing.T) {
	s := newSigners(t)
	signed := approveStatement()
	message := signed.Text()
	armored := keygenSign(t, s.aliceKey, Namespace, message)
	keys := []ssh.PublicKey{s.alice}

	tests := []struct {
		name      string
		edit      func(*Statement)
		wantField string
		wantText  string
	}{
		{"another workflow", func(w *Statement) { w.WorkflowID = "rewind-market-db" },
			keyWorkflow, `signed for workflow "rewind-algotrendy", this is workflow "rewind-market-db"`},
		{"another run", func(w *Statement) { w.RunID = "run-2" },
			keyRun, `signed for run "0198c4f2-7a51-7cde-9a3b-2f1e0c6d5b4a", this is run "run-2"`},
		{"another person", func(w *Statement) { w.Person = "carol" },
			keyPerson, `signed by "bob", the decision names "carol"`},
		{"another decision", func(w *Statement) { w.Action = ActionReject },
			keyAction, `signed to "approve", the decision is "reject"`},
		{"another severity", func(w *Statement) { w.Severity = "P1" },
			keySeverity, `signed for severity "P2", the rollback is "P1"`},
		{"a backup the statement does not name", func(w *Statement) { w.Backup = "" },
			keyBackup, "signed for backup " + testBackup + ", the rollback restores none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := approveStatement()
			tt.edit(&want)
			_, _, err := Check(armored, message, want, keys, testNow())
			var mismatch *MismatchError
			require.ErrorAs(t, err, &mismatch)
			require.Equal(t, tt.wantField, mismatch.Field)
			require.EqualError(t, err, tt.wantText)
		})
	}

	t.Run("start signature used on a run", func(t *testing.T) {
		start := startStatement()
		startSig := keygenSign(t, s.aliceKey, Namespace, start.Text())
		want := start
		want.RunID = "run-2"
		_, _, err := Check(startSig, start.Text(), want, keys, testNow())
		require.EqualError(t, err, `signed to start a new run, this is run "run-2"`)

		_, _, err = Check(startSig, start.Text(), approveStatement(), keys, testNow())
		require.EqualError(t, err, `signed to "start full", the decision is "approve"`)
	})

	t.Run("a start binds what it starts", func(t *testing.T) {
		start := startStatement()
		startSig := keygenSign(t, s.aliceKey, Namespace, start.Text())
		for _, tt := range []struct {
			name      string
			edit      func(*Statement)
			wantField string
			wantText  string
		}{
			{"another stack", func(w *Statement) { w.Stack = "prod" }, keyStack, `signed for stack "algotrendy", the request is for stack "prod"`},
			{"a group", func(w *Statement) { w.Stack, w.Group = "", "markets" }, keyStack, `signed for stack "algotrendy", the request is for stack ""`},
			{"another version", func(w *Statement) { w.Ref = "v1.0" }, keyRef, `signed for version "", the request goes back to "v1.0"`},
			{"reset", func(w *Statement) { w.Reset = true }, keyReset, "signed with reset: no, the request has reset: yes"},
			{"another backup", func(w *Statement) { w.PinnedBackup = "old.tar.gz" }, keyPinned, `signed to restore backup "questdb_backup_20261125_020000.tar.gz", the request pins "old.tar.gz"`},
			{"put back", func(w *Statement) { w.NoPutBack = false }, keyNoPutBack, "signed with no-put-back: yes, the request has no-put-back: no"},
			{"another reason", func(w *Statement) { w.ReasonDigest = ReasonDigest("routine") }, keyReason, "signed for another reason"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				want := startStatement()
				tt.edit(&want)
				_, _, err := Check(startSig, start.Text(), want, keys, testNow())
				var mismatch *MismatchError
				require.ErrorAs(t, err, &mismatch)
				require.Equal(t, tt.wantField, mismatch.Field)
				require.ErrorContains(t, err, tt.wantText)
			})
		}
		// The nonce is the signer's: Check returns it for the caller to claim.
		want := startStatement()
		want.Nonce = ""
		_, signed, err := Check(startSig, start.Text(), want, keys, testNow())
		require.NoError(t, err)
		require.Equal(t, testNonce, signed.Nonce)
	})

	t.Run("a start signed by an older rewind", func(t *testing.T) {
		v1 := []byte("rewind signed statement v1\nworkflow: rewind-algotrendy\nrun:\nperson: alice\naction: start full\nseverity: P1\nbackup:\nexpires: 2026-07-01T12:15:00Z\n")
		_, _, err := Check(keygenSign(t, s.aliceKey, Namespace, v1), v1, startStatement(), keys, testNow())
		require.ErrorIs(t, err, ErrOlderStatement)
		require.EqualError(t, err, `parse statement: "start full" as rewind signed statement v1: signed by an older rewind: sign again`)
	})

	t.Run("matching decision passes, whatever its Expires", func(t *testing.T) {
		want := approveStatement()
		want.Expires = time.Time{}
		key, _, err := Check(armored, message, want, keys, testNow())
		require.NoError(t, err)
		require.Equal(t, s.alice.Marshal(), key.Marshal())
	})

	t.Run("matching decision, expired", func(t *testing.T) {
		_, _, err := Check(armored, message, approveStatement(), keys, signed.Expires.Add(time.Hour))
		require.ErrorIs(t, err, ErrExpired)
	})

	t.Run("signature checked before fields", func(t *testing.T) {
		want := approveStatement()
		want.RunID = "run-2"
		_, _, err := Check(armored, want.Text(), want, keys, testNow())
		require.ErrorIs(t, err, ErrBadSignature)
	})
}

func TestVerifyNeedsTheTime(t *testing.T) {
	s := newSigners(t)
	message := startStatement().Text()
	_, err := Verify(keygenSign(t, s.aliceKey, Namespace, message), message, []ssh.PublicKey{s.alice}, time.Time{})
	require.ErrorContains(t, err, "the current time was not given")
}
