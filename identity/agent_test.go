package identity

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// startAgent runs a real ssh-agent in the foreground on a fresh socket, stops
// it when the test ends, and returns the socket once the agent accepts
// connections.
func startAgent(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("ssh-agent is not installed (Debian: openssh-client)")
	}
	// Unix socket paths are limited to ~108 bytes; t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "rewind-agent")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	socket := filepath.Join(dir, "agent.sock")

	agentCmd := exec.Command("ssh-agent", "-D", "-a", socket)
	require.NoError(t, agentCmd.Start())
	t.Cleanup(func() {
		_ = agentCmd.Process.Kill()
		_ = agentCmd.Wait()
	})
	require.Eventually(t, func() bool {
		conn, err := net.Dial("unix", socket)
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	}, 10*time.Second, 20*time.Millisecond, "ssh-agent did not listen on %s", socket)
	return socket
}

// sshAdd loads a private key file into the agent at socket.
func sshAdd(t *testing.T, socket, keyPath string) {
	t.Helper()
	cmd := exec.Command("ssh-add", keyPath)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+socket)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ssh-add %s: %s", keyPath, out)
}

func TestAgentSigner(t *testing.T) {
	socket := startAgent(t)
	dir := t.TempDir()
	aliceKey, alice := newKey(t, dir, "alice", "ed25519", "")
	rsaKey, aliceRSA := newKey(t, dir, "alice-rsa", "rsa", "3072")
	_, absent := newKey(t, dir, "absent", "ed25519", "")

	t.Run("empty agent", func(t *testing.T) {
		_, _, err := AgentSigner(socket, nil)
		require.ErrorContains(t, err, "the agent holds no keys; add yours with ssh-add")
	})

	sshAdd(t, socket, aliceKey)

	t.Run("only key, signature accepted by ssh-keygen and Verify", func(t *testing.T) {
		signer, closer, err := AgentSigner(socket, nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, closer.Close()) })
		require.Equal(t, alice.Marshal(), signer.PublicKey().Marshal())

		st := startStatement()
		armored, err := Sign(signer, st)
		require.NoError(t, err)
		out, err := keygenVerify(t, "alice "+authorizedLine(alice)+"\n", "alice", Namespace, armored, st.Text())
		require.NoError(t, err, out)
		key, err := Verify(armored, st.Text(), []ssh.PublicKey{alice}, testNow())
		require.NoError(t, err)
		require.Equal(t, alice.Marshal(), key.Marshal())
	})

	sshAdd(t, socket, rsaKey)

	tests := []struct {
		name    string
		pub     ssh.PublicKey
		wantErr string
	}{
		{"ed25519 chosen among two", alice, ""},
		{"rsa chosen among two, signs rsa-sha2-512", aliceRSA, ""},
		{"no choice among two", nil, "the agent holds 2 keys"},
		{"key not in the agent", absent, "no key " + ssh.FingerprintSHA256(absent) + " in the agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer, closer, err := AgentSigner(socket, tt.pub)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, closer.Close()) })
			st := approveStatement()
			armored, err := Sign(signer, st)
			require.NoError(t, err)
			requireSSHKeygenDefaults(t, armored, tt.pub)
			key, err := Verify(armored, st.Text(), []ssh.PublicKey{alice, aliceRSA}, testNow())
			require.NoError(t, err)
			require.Equal(t, tt.pub.Marshal(), key.Marshal())
			out, err := keygenVerify(t, "bob "+authorizedLine(tt.pub)+"\n", "bob", Namespace, armored, st.Text())
			require.NoError(t, err, out)
		})
	}

	t.Run("no socket", func(t *testing.T) {
		_, _, err := AgentSigner("", nil)
		require.ErrorContains(t, err, "SSH_AUTH_SOCK is empty")
		_, _, err = AgentSigner(filepath.Join(dir, "nothing.sock"), nil)
		require.ErrorContains(t, err, "connect to ssh-agent at")
	})
}
