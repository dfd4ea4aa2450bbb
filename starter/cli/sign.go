package cli

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// signedFor is how long the decisions the CLI signs stay good; startSignedFor how long its
// starts do: below the worker's limit (api.MaxStartSignedFor), so a clock a little
// ahead of the worker's still signs starts it takes.
const (
	signedFor      = 10 * time.Minute
	startSignedFor = api.MaxStartSignedFor - 2*time.Minute
)

// proof is a signed statement, as text, ready for a request or a decision.
type proof struct {
	statement, signature string
}

// signSource says how the operator signs: a statement and signature made by hand
// (`ssh-keygen -Y sign -n rewind`), a private key file, or ssh-agent.
type signSource struct {
	keyFile, statementFile, signatureFile string
}

// prove signs st for the operator, or reads what they signed by hand. With nothing to
// sign with it returns no proof, unless mustSign says why they must have one.
func (o *Options) prove(st identity.Statement, src signSource, mustSign string) (proof, error) {
	if src.signatureFile != "" {
		if src.statementFile == "" {
			return proof{}, badInputf("--signature needs --statement: the text you signed (print it with --print-statement)")
		}
		stmt, err := os.ReadFile(src.statementFile)
		if err != nil {
			return proof{}, badInputf("read --statement: %v", err)
		}
		sig, err := os.ReadFile(src.signatureFile)
		if err != nil {
			return proof{}, badInputf("read --signature: %v", err)
		}
		return proof{statement: string(stmt), signature: string(sig)}, nil
	}
	signer, closer, err := o.signer(st.Person, src.keyFile)
	if err != nil {
		return proof{}, err
	}
	if signer == nil {
		if mustSign != "" {
			return proof{}, badInputf("%s: add %s's key to ssh-agent (ssh-add), pass --key FILE, or sign by hand with --print-statement and --signature", mustSign, st.Person)
		}
		return proof{}, nil
	}
	defer closer.Close()
	sig, err := identity.Sign(signer, st)
	if err != nil {
		return proof{}, badInputf("sign as %s: %v", st.Person, err)
	}
	return proof{statement: string(st.Text()), signature: sig}, nil
}

// signer finds the operator's key: --key, identity.key, or the agent at SSH_AUTH_SOCK
// (the key of theirs the policy lists, or the agent's only key). None is no error.
func (o *Options) signer(person, keyFile string) (ssh.Signer, io.Closer, error) {
	cfg, err := o.Config()
	if err != nil {
		return nil, nil, err
	}
	if keyFile == "" {
		keyFile = cfg.Identity.Key
	}
	if keyFile != "" {
		s, err := identity.FileSigner(expandHome(keyFile))
		if err != nil {
			// A key file may hold a bare base64 ed25519 key, the pair of an approver's
			// public_key in rewind.yaml.
			bare, bareErr := bareKeyFile(expandHome(keyFile))
			if bareErr != nil {
				return nil, nil, badInputf("--key: %v", err)
			}
			if s, err = ssh.NewSignerFromKey(bare); err != nil {
				return nil, nil, badInputf("--key: %v", err)
			}
		}
		return s, io.NopCloser(nil), nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, nil
	}
	for _, k := range personKeys(cfg, person) {
		if s, c, err := identity.AgentSigner(sock, k); err == nil {
			return s, c, nil
		}
	}
	s, c, err := identity.AgentSigner(sock, nil)
	if err != nil {
		// An agent without a usable key is the same as no agent; a worker that requires
		// signatures says so.
		return nil, nil, nil
	}
	return s, c, nil
}

// mustSign says why person must sign, as the worker would: its policy requires
// signatures, or this rewind.yaml lists keys of theirs. "" when neither.
func mustSign(cfg *config.Config, person string) string {
	switch {
	case cfg.Policy.RequireSignatures:
		return "this worker requires signatures"
	case len(personKeys(cfg, person)) > 0:
		return person + " has keys: sign with ssh-agent or --key"
	}
	return ""
}

func personKeys(cfg *config.Config, person string) []ssh.PublicKey {
	a, ok := cfg.Approver(person)
	if !ok {
		return nil
	}
	var out []ssh.PublicKey
	for _, k := range a.Keys {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err == nil {
			out = append(out, pub)
		}
	}
	return out
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return home + "/" + rest
		}
	}
	return p
}

// expiry is when a decision signed now stops counting.
func expiry(now time.Time) time.Time { return now.Add(signedFor).UTC().Truncate(time.Second) }

// startExpiry is when a start signed now stops counting.
func startExpiry(now time.Time) time.Time {
	return now.Add(startSignedFor).UTC().Truncate(time.Second)
}

// describe names a proof for messages.
func (p proof) describe() string {
	if p.signature == "" {
		return "unsigned"
	}
	return fmt.Sprintf("signed (%d-byte SSHSIG)", len(p.signature))
}

// bareKeyFile reads a file holding a bare base64 ed25519 private key (64 bytes) or seed
// (32 bytes).
func bareKeyFile(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read --key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || (len(raw) != ed25519.PrivateKeySize && len(raw) != ed25519.SeedSize) {
		return nil, fmt.Errorf("--key %s: want a base64 ed25519 private key (64 bytes) or seed (32 bytes)", path)
	}
	if len(raw) == ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(raw), nil
	}
	return ed25519.PrivateKey(raw), nil
}
