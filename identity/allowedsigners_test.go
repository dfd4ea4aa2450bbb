package identity

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// policyKeys are the people of the allowed signers fixture, with their keys
// made by ssh-keygen.
type policyKeys struct {
	names []string
	paths map[string]string
	pubs  map[string]ssh.PublicKey
}

func newPolicyKeys(t *testing.T) policyKeys {
	t.Helper()
	dir := t.TempDir()
	k := policyKeys{
		names: []string{"alice", "bob", "carol", "dave", "erin", "ops", "ca"},
		paths: map[string]string{},
		pubs:  map[string]ssh.PublicKey{},
	}
	for _, name := range k.names {
		k.paths[name], k.pubs[name] = newKey(t, dir, name, "ed25519", "")
	}
	return k
}

func (k policyKeys) line(name string) string { return authorizedLine(k.pubs[name]) }

// nameOf returns which person of the fixture owns pub.
func (k policyKeys) nameOf(t *testing.T, pub ssh.PublicKey) string {
	for _, name := range k.names {
		if string(k.pubs[name].Marshal()) == string(pub.Marshal()) {
			return name
		}
	}
	t.Fatalf("unknown key %s", ssh.FingerprintSHA256(pub))
	return ""
}

// allowedSignersFixture is a policy file using every feature of the format.
func (k policyKeys) allowedSignersFixture() string {
	return strings.Join([]string{
		"# rewind policy: who may start or approve rollbacks",
		"",
		"alice@example.com,alice " + k.line("alice") + " laptop",
		`"bob,robert" namespaces="git,rewind" ` + k.line("bob"),
		"   # an indented comment",
		`carol valid-after="20260101Z",valid-before="20261231235959Z" ` + k.line("carol"),
		`*,!mallory namespaces="rew*" ` + k.line("ops") + " shared on-call key",
		"dave\tVALID-AFTER=\"202607011200Z\"\t" + k.line("dave"),
		`*@example.com cert-authority ` + k.line("ca"),
		`erin namespaces="git" ` + k.line("erin"),
		"",
	}, "\n")
}

func TestParseAllowedSigners(t *testing.T) {
	k := newPolicyKeys(t)
	list, err := ParseAllowedSigners([]byte(k.allowedSignersFixture()))
	require.NoError(t, err)

	want := []AllowedSigner{
		{Line: 3, Principals: []string{"alice@example.com", "alice"}, Key: k.pubs["alice"], Comment: "laptop"},
		{Line: 4, Principals: []string{"bob", "robert"}, Namespaces: []string{"git", "rewind"}, Key: k.pubs["bob"]},
		{Line: 6, Principals: []string{"carol"}, Key: k.pubs["carol"],
			ValidAfter:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			ValidBefore: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
		{Line: 7, Principals: []string{"*", "!mallory"}, Namespaces: []string{"rew*"}, Key: k.pubs["ops"], Comment: "shared on-call key"},
		{Line: 8, Principals: []string{"dave"}, Key: k.pubs["dave"], ValidAfter: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)},
		{Line: 9, Principals: []string{"*@example.com"}, CertAuthority: true, Key: k.pubs["ca"]},
		{Line: 10, Principals: []string{"erin"}, Namespaces: []string{"git"}, Key: k.pubs["erin"]},
	}
	require.Len(t, list, len(want))
	for i := range want {
		got := list[i]
		require.Equal(t, want[i].Key.Marshal(), got.Key.Marshal(), "line %d key", want[i].Line)
		got.Key = want[i].Key
		require.Equal(t, want[i], got)
	}
}

func TestParseAllowedSignersRefusesBadLines(t *testing.T) {
	k := newPolicyKeys(t)
	key := k.line("alice")
	tests := []struct {
		name, line, wantErr string
	}{
		{"principals only", "alice", "missing key after the principals"},
		{"no principals", key, "the line starts with a ssh-ed25519 key: put the principals (who may sign) first"},
		{"options but no key", `alice namespaces="rewind"`, "missing key after the options"},
		{"unquoted option value", "alice valid-after=20260101Z " + key, "valid-after: value 20260101Z must be in double quotes"},
		{"time without Z", `alice valid-after="20260101" ` + key, `time "20260101" has no Z suffix`},
		{"short time", `alice valid-after="2026010Z" ` + key, `time "2026010Z" is not YYYYMMDD[HHMM[SS]]Z`},
		{"impossible date", `alice valid-before="20261301Z" ` + key, "month out of range"},
		{"window closed", `alice valid-after="20260201Z",valid-before="20260101Z" ` + key, "valid-before 2026-01-01T00:00:00Z is not after valid-after 2026-02-01T00:00:00Z"},
		{"unknown option", `alice from="10.0.0.0/8" ` + key, `unknown option "from"`},
		{"unknown flag", `alice no-touch-required ` + key, `unknown option "no-touch-required"`},
		{"option given twice", `alice namespaces="git",Namespaces="rewind" ` + key, "namespaces given twice"},
		{"empty namespaces", `alice namespaces="" ` + key, `namespaces: empty pattern in ""`},
		{"unterminated option quote", `alice namespaces="git ` + key, "options: missing closing quote"},
		{"empty principal", "alice,,bob " + key, `principals: empty pattern in "alice,,bob"`},
		{"unterminated principals quote", `"alice,bob ` + key, "principals: missing closing quote"},
		{"unsupported key type", "alice ssh-dss AAAAB3NzaC1kc3MAAACBAP", "key type ssh-dss is not supported"},
		{"misspelled key type", "alice ssh-ed2551 AAAAC3NzaC1lZDI1NTE5", "key type ssh-ed2551 is not supported"},
		{"bad base64", "alice ssh-ed25519 AAAA!!!!", "key: decode base64"},
		{"type and blob disagree", "alice ecdsa-sha2-nistp256 " + strings.Fields(key)[1], "key: says ecdsa-sha2-nistp256 but holds ssh-ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := "# policy\nbob " + k.line("bob") + "\n" + tt.line + "\n"
			_, err := ParseAllowedSigners([]byte(file))
			require.ErrorContains(t, err, "parse allowed signers line 3: ")
			require.ErrorContains(t, err, tt.wantErr)
		})
	}

	t.Run("every bad line is reported", func(t *testing.T) {
		file := "alice\n" + "bob " + k.line("bob") + "\n" + "# fine\n" + `carol valid-after="1" ` + key + "\n"
		_, err := ParseAllowedSigners([]byte(file))
		require.ErrorContains(t, err, "parse allowed signers line 1: missing key")
		require.ErrorContains(t, err, "parse allowed signers line 4: options: valid-after")
	})
}

// keysForCase asks who may sign for person in namespace at a time.
type keysForCase struct {
	person, namespace string
	at                time.Time
	want              []string // owners of the keys KeysFor returns
}

func keysForCases() []keysForCase {
	at := testNow() // 2026-07-01T12:00:00Z
	return []keysForCase{
		{"alice", Namespace, at, []string{"alice", "ops"}},
		{"alice@example.com", Namespace, at, []string{"alice", "ops"}},
		{"bob", Namespace, at, []string{"bob", "ops"}},
		{"robert", "git", at, []string{"bob"}},
		{"carol", Namespace, time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), []string{"ops"}},
		{"carol", Namespace, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), []string{"carol", "ops"}},
		{"carol", Namespace, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), []string{"carol", "ops"}},
		{"carol", Namespace, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), []string{"ops"}},
		{"dave", Namespace, at.Add(-time.Second), []string{"ops"}},
		{"dave", Namespace, at, []string{"ops", "dave"}},
		{"erin", Namespace, at, []string{"ops"}},
		{"erin", "git", at, []string{"erin"}},
		{"mallory", Namespace, at, nil},
		{"zoe@example.com", Namespace, at, []string{"ops"}},
	}
}

func TestKeysFor(t *testing.T) {
	k := newPolicyKeys(t)
	list, err := ParseAllowedSigners([]byte(k.allowedSignersFixture()))
	require.NoError(t, err)
	for _, tc := range keysForCases() {
		t.Run(fmt.Sprintf("%s/%s/%s", tc.person, tc.namespace, tc.at.Format(time.RFC3339)), func(t *testing.T) {
			var got []string
			for _, pub := range list.KeysFor(tc.person, tc.namespace, tc.at) {
				got = append(got, k.nameOf(t, pub))
			}
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("a key listed twice is returned once", func(t *testing.T) {
		twice, err := ParseAllowedSigners([]byte("alice " + k.line("alice") + "\n*e " + k.line("alice") + "\n"))
		require.NoError(t, err)
		require.Len(t, twice.KeysFor("alice", Namespace, testNow()), 1)
	})
}

// TestKeysForAgreesWithSSHKeygen asks ssh-keygen -Y verify, for every case
// and every key of the fixture, whether that key may sign, and requires
// KeysFor to give the same answer.
func TestKeysForAgreesWithSSHKeygen(t *testing.T) {
	k := newPolicyKeys(t)
	fixture := k.allowedSignersFixture()
	list, err := ParseAllowedSigners([]byte(fixture))
	require.NoError(t, err)
	message := []byte("any message\n")

	signatures := map[string]string{} // name/namespace -> armored
	for _, name := range k.names {
		for _, ns := range []string{Namespace, "git"} {
			signatures[name+"/"+ns] = keygenSign(t, k.paths[name], ns, message)
		}
	}
	for _, tc := range keysForCases() {
		t.Run(fmt.Sprintf("%s/%s/%s", tc.person, tc.namespace, tc.at.Format(time.RFC3339)), func(t *testing.T) {
			allowed := list.KeysFor(tc.person, tc.namespace, tc.at)
			for _, name := range k.names {
				out, err := keygenVerify(t, fixture, tc.person, tc.namespace, signatures[name+"/"+tc.namespace], message,
					"-Overify-time="+tc.at.UTC().Format("20060102150405")+"Z")
				keygenSays := err == nil && strings.Contains(out, "Good")
				weSay := findKey(allowed, k.pubs[name]) != nil
				require.Equal(t, keygenSays, weSay, "key of %s: ssh-keygen said %q", name, out)
			}
		})
	}
}

func TestMatchPatternList(t *testing.T) {
	tests := []struct {
		s        string
		patterns string
		want     bool
	}{
		{"alice", "alice", true},
		{"alice", "bob", false},
		{"alice", "bob,alice", true},
		{"alice@example.com", "*@example.com", true},
		{"alice@example.org", "*@example.com", false},
		{"alice", "al?ce", true},
		{"alce", "al?ce", false},
		{"alice", "*", true},
		{"", "*", true},
		{"alice", "*,!alice", false},
		{"alice", "!alice,*", false},
		{"bob", "*,!alice", true},
		{"alice", "!bob", false}, // a negation alone never accepts
		{"Alice", "alice", false},
		{"rewind", "rew*", true},
		{"aaab", "a*a*b", true},
		{"aaab", "a*a*c", false},
	}
	for _, tt := range tests {
		t.Run(tt.s+" in "+tt.patterns, func(t *testing.T) {
			require.Equal(t, tt.want, matchPatternList(tt.s, strings.Split(tt.patterns, ",")))
		})
	}
}

func TestParsePublicKeys(t *testing.T) {
	k := newPolicyKeys(t)
	file := "# on-call keys\n\n" + k.line("alice") + " alice laptop\n" + "  " + k.line("bob") + "\r\n"
	keys, err := ParsePublicKeys([]byte(file))
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.Equal(t, []string{"alice", "bob"}, []string{k.nameOf(t, keys[0]), k.nameOf(t, keys[1])})

	tests := []struct {
		name, line, wantErr string
	}{
		{"options are refused", `from="10.0.0.1" ` + k.line("alice"), `key: key type from="10.0.0.1" is not supported`},
		{"missing base64", "ssh-ed25519", "key: missing base64 after ssh-ed25519"},
		{"not base64", "ssh-ed25519 not-base64", "key: decode base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePublicKeys([]byte(k.line("alice") + "\n" + tt.line + "\n"))
			require.ErrorContains(t, err, "parse public keys line 2: "+tt.wantErr)
		})
	}
}
