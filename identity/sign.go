package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Sign returns the armored SSHSIG signature (-----BEGIN SSH SIGNATURE-----)
// of st.Text() in namespace rewind, hashed with sha512 as ssh-keygen does;
// RSA keys sign with rsa-sha2-512. `ssh-keygen -Y verify -n rewind` accepts it.
func Sign(signer ssh.Signer, st Statement) (string, error) {
	if err := st.Validate(); err != nil {
		return "", fmt.Errorf("sign statement: %w", err)
	}
	sig, err := sshsig.Sign(bytes.NewReader(st.Text()), signer, sshsig.HashSHA512, Namespace)
	if err != nil {
		return "", fmt.Errorf("sign statement with %s key %s: %w", signer.PublicKey().Type(), ssh.FingerprintSHA256(signer.PublicKey()), err)
	}
	return string(sshsig.Armor(sig)), nil
}

// NewNonce returns a start statement's nonce: 128 random bits in lowercase hex. The worker
// admits a start once per nonce, so a signed start read from history cannot start again.
func NewNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// AgentSigner connects to the ssh-agent listening on socket (the value of
// SSH_AUTH_SOCK) and returns a signer for the key matching pub, or for the
// agent's only key when pub is nil. Close the returned io.Closer when done
// signing: it holds the connection the signer uses.
func AgentSigner(socket string, pub ssh.PublicKey) (ssh.Signer, io.Closer, error) {
	if socket == "" {
		return nil, nil, errors.New("find ssh-agent: SSH_AUTH_SOCK is empty; start ssh-agent and add your key with ssh-add")
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to ssh-agent at %s: %w", socket, err)
	}
	signer, err := pickAgentSigner(agent.NewClient(conn), pub)
	if err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("use ssh-agent at %s: %w", socket, err)
	}
	return signer, conn, nil
}

func pickAgentSigner(client agent.ExtendedAgent, pub ssh.PublicKey) (ssh.Signer, error) {
	all, err := client.Signers()
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	// Certificates are left out: Verify accepts plain keys only.
	var keys []ssh.Signer
	for _, s := range all {
		if _, isCert := s.PublicKey().(*ssh.Certificate); !isCert {
			keys = append(keys, s)
		}
	}
	if pub != nil {
		want := pub.Marshal()
		for _, s := range keys {
			if bytes.Equal(s.PublicKey().Marshal(), want) {
				return s, nil
			}
		}
		return nil, fmt.Errorf("no key %s in the agent (it holds %s); add it with ssh-add", ssh.FingerprintSHA256(pub), describeSigners(keys))
	}
	switch len(keys) {
	case 0:
		return nil, errors.New("the agent holds no keys; add yours with ssh-add")
	case 1:
		return keys[0], nil
	default:
		return nil, fmt.Errorf("the agent holds %d keys (%s); say which public key to sign with", len(keys), describeSigners(keys))
	}
}

func describeSigners(signers []ssh.Signer) string {
	if len(signers) == 0 {
		return "no keys"
	}
	names := make([]string, len(signers))
	for i, s := range signers {
		names[i] = s.PublicKey().Type() + " " + ssh.FingerprintSHA256(s.PublicKey())
	}
	return strings.Join(names, ", ")
}

// FileSigner reads an unencrypted OpenSSH private key file. An encrypted key
// is refused with advice to load it into ssh-agent: rewind never asks for
// passphrases.
func FileSigner(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var encrypted *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &encrypted):
		return nil, fmt.Errorf("read private key %s: it is encrypted; add it to ssh-agent with `ssh-add %s` and sign through the agent", path, path)
	case err != nil:
		return nil, fmt.Errorf("read private key %s: %w", path, err)
	}
	return signer, nil
}
