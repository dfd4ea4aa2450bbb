package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
	"testing"

	"github.com/hiddeco/sshsig"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// fakeSecurityKey stands in for a FIDO token: it produces what
// sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com keys
// produce (openssh PROTOCOL.u2f), from a software key.
type fakeSecurityKey struct {
	pub  ssh.PublicKey
	sign func(t *testing.T, skData []byte) []byte // returns the signature blob
}

const skApplication = "ssh:"

func newFakeEd25519SK(t *testing.T) fakeSecurityKey {
	t.Helper()
	pk, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pub, err := ssh.ParsePublicKey(ssh.Marshal(struct {
		Type        string
		Key         []byte
		Application string
	}{ssh.KeyAlgoSKED25519, pk, skApplication}))
	require.NoError(t, err)
	return fakeSecurityKey{pub: pub, sign: func(_ *testing.T, skData []byte) []byte {
		return ed25519.Sign(priv, skData) // raw 64 bytes, no length prefix
	}}
}

func newFakeECDSASK(t *testing.T) fakeSecurityKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	point, err := priv.PublicKey.ECDH()
	require.NoError(t, err)
	pub, err := ssh.ParsePublicKey(ssh.Marshal(struct {
		Type        string
		Curve       string
		Key         []byte
		Application string
	}{ssh.KeyAlgoSKECDSA256, "nistp256", point.Bytes(), skApplication}))
	require.NoError(t, err)
	return fakeSecurityKey{pub: pub, sign: func(t *testing.T, skData []byte) []byte {
		digest := sha256.Sum256(skData)
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		require.NoError(t, err)
		return ssh.Marshal(struct{ R, S *big.Int }{r, s})
	}}
}

// signSSHSIG wraps a security key signature over message into an armored
// SSHSIG, built field by field from PROTOCOL.sshsig and PROTOCOL.u2f.
func (k fakeSecurityKey) signSSHSIG(t *testing.T, message []byte, flags byte, counter uint32) string {
	t.Helper()
	messageHash := sha512.Sum512(message)
	sshsigData := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace, Reserved, HashAlgorithm, Hash string
	}{Namespace, "", "sha512", string(messageHash[:])})...)

	// The token signs sha256(application) || flags || counter || sha256(data).
	appHash := sha256.Sum256([]byte(skApplication))
	dataHash := sha256.Sum256(sshsigData)
	skData := append(appHash[:], flags)
	skData = append(skData, byte(counter>>24), byte(counter>>16), byte(counter>>8), byte(counter))
	skData = append(skData, dataHash[:]...)

	sig := &ssh.Signature{
		Format: k.pub.Type(),
		Blob:   k.sign(t, skData),
		Rest: ssh.Marshal(struct {
			Flags   byte
			Counter uint32
		}{flags, counter}),
	}
	return string(sshsig.Armor(&sshsig.Signature{
		Version:       1,
		PublicKey:     k.pub,
		Namespace:     Namespace,
		HashAlgorithm: sshsig.HashSHA512,
		Signature:     sig,
	}))
}

// We require user presence (the touch) on hardware-key signatures, as
// x/crypto does: a signature the token made without a touch could have been
// made by malware on the person's machine.
func TestVerifySecurityKeySignatures(t *testing.T) {
	const (
		userPresent  = 0x01
		userVerified = 0x04
	)
	kinds := []struct {
		name string
		key  fakeSecurityKey
	}{
		{"sk-ssh-ed25519", newFakeEd25519SK(t)},
		{"sk-ecdsa-sha2-nistp256", newFakeECDSASK(t)},
	}
	for _, kind := range kinds {
		st := approveStatement()
		message := st.Text()
		keys := []ssh.PublicKey{kind.key.pub}
		allowed := "bob " + authorizedLine(kind.key.pub) + "\n"

		t.Run(kind.name+"/touched", func(t *testing.T) {
			for _, flags := range []byte{userPresent, userPresent | userVerified} {
				armored := kind.key.signSSHSIG(t, message, flags, 42)
				key, err := Verify(armored, message, keys, testNow())
				require.NoError(t, err)
				require.Equal(t, kind.key.pub.Marshal(), key.Marshal())
				// ssh-keygen agrees that the hand-built signature is genuine.
				out, err := keygenVerify(t, allowed, "bob", Namespace, armored, message)
				require.NoError(t, err, out)
				require.Contains(t, out, `Good "rewind" signature for bob`)
			}
		})

		t.Run(kind.name+"/not touched", func(t *testing.T) {
			armored := kind.key.signSSHSIG(t, message, 0, 42)
			_, err := Verify(armored, message, keys, testNow())
			require.ErrorIs(t, err, ErrNoUserPresence)
			require.ErrorContains(t, err, "lacks user presence (no touch): flags 0x00")
		})

		t.Run(kind.name+"/counter changed after signing", func(t *testing.T) {
			armored := kind.key.signSSHSIG(t, message, userPresent, 42)
			sig, err := parseArmored(armored)
			require.NoError(t, err)
			sig.Signature.Rest = ssh.Marshal(struct {
				Flags   byte
				Counter uint32
			}{userPresent, 43})
			_, err = Verify(string(sshsig.Armor(sig)), message, keys, testNow())
			require.ErrorIs(t, err, ErrBadSignature)
		})
	}
}
