package identity

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hiddeco/sshsig"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

type keyKind struct{ name, keygenType, bits string }

// interopKeyKinds are the key kinds ssh-keygen generates for the interop tests.
func interopKeyKinds() []keyKind {
	return []keyKind{
		{"ed25519", "ed25519", ""},
		{"ecdsa-p256", "ecdsa", "256"},
		{"ecdsa-p384", "ecdsa", "384"},
		{"ecdsa-p521", "ecdsa", "521"},
		{"rsa-3072", "rsa", "3072"},
	}
}

// runTool runs an OpenSSH tool with TZ=UTC and fails the test on error.
func runTool(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	out, err := tryTool(t, stdin, name, args...)
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return out
}

// tryTool runs an OpenSSH tool and returns its combined output and error.
func tryTool(t *testing.T, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (Debian: openssh-client)", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// newKey generates an unencrypted key with ssh-keygen into dir and returns
// the private key path and the public key.
func newKey(t *testing.T, dir, name, keygenType, bits string) (string, ssh.PublicKey) {
	t.Helper()
	path := filepath.Join(dir, name)
	args := []string{"-q", "-t", keygenType, "-N", "", "-C", name, "-f", path}
	if bits != "" {
		args = append(args, "-b", bits)
	}
	runTool(t, nil, "ssh-keygen", args...)
	pubLine, err := os.ReadFile(path + ".pub")
	require.NoError(t, err)
	pub, _, _, _, err := ssh.ParseAuthorizedKey(pubLine)
	require.NoError(t, err)
	return path, pub
}

// keygenSign signs message with `ssh-keygen -Y sign` and returns the armor.
func keygenSign(t *testing.T, keyPath, namespace string, message []byte, extra ...string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "statement")
	require.NoError(t, os.WriteFile(file, message, 0o600))
	args := append([]string{"-Y", "sign", "-n", namespace, "-f", keyPath}, extra...)
	runTool(t, nil, "ssh-keygen", append(args, file)...)
	sig, err := os.ReadFile(file + ".sig")
	require.NoError(t, err)
	return string(sig)
}

// keygenVerify runs `ssh-keygen -Y verify` for person in namespace against
// an allowed signers file; extra adds options such as -Overify-time.
func keygenVerify(t *testing.T, allowedSigners, person, namespace, armored string, message []byte, extra ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed_signers")
	sig := filepath.Join(dir, "statement.sig")
	require.NoError(t, os.WriteFile(allowed, []byte(allowedSigners), 0o600))
	require.NoError(t, os.WriteFile(sig, []byte(armored), 0o600))
	args := append([]string{"-Y", "verify", "-f", allowed, "-I", person, "-n", namespace, "-s", sig}, extra...)
	return tryTool(t, message, "ssh-keygen", args...)
}

// requireSSHKeygenDefaults checks that armored uses what ssh-keygen -Y sign
// uses: hash sha512 and, for RSA, rsa-sha2-512 signatures.
func requireSSHKeygenDefaults(t *testing.T, armored string, pub ssh.PublicKey) {
	t.Helper()
	sig, err := parseArmored(armored)
	require.NoError(t, err)
	require.Equal(t, sshsig.HashSHA512, sig.HashAlgorithm)
	require.Equal(t, Namespace, sig.Namespace)
	if pub.Type() == ssh.KeyAlgoRSA {
		require.Equal(t, ssh.KeyAlgoRSASHA512, sig.Signature.Format)
	}
}

func authorizedLine(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

func TestVerifyAcceptsSignaturesFromSSHKeygen(t *testing.T) {
	for _, kt := range interopKeyKinds() {
		for _, hash := range []string{"sha512", "sha256"} {
			t.Run(kt.name+"/"+hash, func(t *testing.T) {
				keyPath, pub := newKey(t, t.TempDir(), "alice", kt.keygenType, kt.bits)
				message := startStatement().Text()
				armored := keygenSign(t, keyPath, Namespace, message, "-O", "hashalg="+hash)

				got, err := Verify(armored, message, []ssh.PublicKey{pub}, testNow())
				require.NoError(t, err)
				require.Equal(t, pub.Marshal(), got.Marshal())
			})
		}
	}
}

func TestSSHKeygenAcceptsSign(t *testing.T) {
	for _, kt := range interopKeyKinds() {
		t.Run(kt.name, func(t *testing.T) {
			keyPath, pub := newKey(t, t.TempDir(), "alice", kt.keygenType, kt.bits)
			signer, err := FileSigner(keyPath)
			require.NoError(t, err)
			message := startStatement().Text()

			armored, err := Sign(signer, startStatement())
			require.NoError(t, err)
			requireSSHKeygenDefaults(t, armored, pub)

			out, err := keygenVerify(t, "alice "+authorizedLine(pub)+"\n", "alice", Namespace, armored, message)
			require.NoError(t, err, out)
			require.Contains(t, out, `Good "rewind" signature for alice`)
			// And our own verifier agrees.
			_, err = Verify(armored, message, []ssh.PublicKey{pub}, testNow())
			require.NoError(t, err)
		})
	}
}

func TestSignRefusesInvalidStatement(t *testing.T) {
	keyPath, _ := newKey(t, t.TempDir(), "alice", "ed25519", "")
	signer, err := FileSigner(keyPath)
	require.NoError(t, err)
	st := startStatement()
	st.Person = "alice\nperson: bob"
	_, err = Sign(signer, st)
	require.ErrorContains(t, err, "sign statement: person")
}

func TestFileSignerRefusesEncryptedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alice")
	runTool(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "correct horse", "-f", path)
	_, err := FileSigner(path)
	require.ErrorContains(t, err, "it is encrypted; add it to ssh-agent with `ssh-add "+path+"`")

	_, err = FileSigner(filepath.Join(t.TempDir(), "missing"))
	require.ErrorContains(t, err, "read private key")
}
