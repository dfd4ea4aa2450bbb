package identity

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Reasons a signature is refused; match them with errors.Is. The message
// around each says what was found.
var (
	ErrMalformedSignature = errors.New("malformed signature")
	ErrWrongNamespace     = errors.New("signature is for another namespace")
	ErrUnknownKey         = errors.New("signing key is not allowed")
	ErrNoUserPresence     = errors.New("hardware key signature lacks user presence (no touch)")
	ErrBadSignature       = errors.New("signature does not match the signed text")
	ErrNotStatement       = errors.New("signed text is not a rewind statement")
	ErrExpired            = errors.New("statement expired")
)

// MismatchError says which field of a correctly signed statement differs
// from the decision being validated: the signature is real but was given for
// something else.
type MismatchError struct {
	Field  string // the statement's key: workflow, run, person, action, severity, backup, stack, group, ref, reset, pinned-backup, no-put-back or reason
	Signed string // value in the signed statement
	Want   string // value the decision carries
}

func (e *MismatchError) Error() string {
	switch e.Field {
	case keyWorkflow:
		return fmt.Sprintf("signed for workflow %q, this is workflow %q", e.Signed, e.Want)
	case keyRun:
		switch {
		case e.Signed == "":
			return fmt.Sprintf("signed to start a new run, this is run %q", e.Want)
		case e.Want == "":
			return fmt.Sprintf("signed for run %q, this decision starts a new run", e.Signed)
		}
		return fmt.Sprintf("signed for run %q, this is run %q", e.Signed, e.Want)
	case keyPerson:
		return fmt.Sprintf("signed by %q, the decision names %q", e.Signed, e.Want)
	case keyAction:
		return fmt.Sprintf("signed to %q, the decision is %q", e.Signed, e.Want)
	case keySeverity:
		return fmt.Sprintf("signed for severity %q, the rollback is %q", e.Signed, e.Want)
	case keyBackup:
		return fmt.Sprintf("signed for backup %s, the rollback restores %s", describeBackup(e.Signed), describeBackup(e.Want))
	case keyStack:
		return fmt.Sprintf("signed for stack %q, the request is for stack %q", e.Signed, e.Want)
	case keyGroup:
		return fmt.Sprintf("signed for group %q, the request is for group %q", e.Signed, e.Want)
	case keyRef:
		return fmt.Sprintf("signed for version %q, the request goes back to %q", e.Signed, e.Want)
	case keyPinned:
		return fmt.Sprintf("signed to restore backup %q, the request pins %q", e.Signed, e.Want)
	case keyReset, keyNoPutBack:
		return fmt.Sprintf("signed with %s: %s, the request has %s: %s", e.Field, e.Signed, e.Field, e.Want)
	case keyReason:
		return fmt.Sprintf("signed for another reason (%s) than the request's (%s)", e.Signed, e.Want)
	}
	return fmt.Sprintf("signed %s %q, want %q", e.Field, e.Signed, e.Want)
}

func describeBackup(sha string) string {
	if sha == "" {
		return "none"
	}
	return sha
}

// Verify checks that armored is an SSHSIG signature in namespace rewind, made
// by one of keys over message, that message is a valid Statement, and that
// the statement has not expired at now (it expires at its Expires instant).
// It returns the key that signed. Verify is pure and deterministic.
func Verify(armored string, message []byte, keys []ssh.PublicKey, now time.Time) (ssh.PublicKey, error) {
	key, st, err := verifyStatement(armored, message, keys)
	if err != nil {
		return nil, err
	}
	if err := checkExpiry(st, now); err != nil {
		return nil, err
	}
	return key, nil
}

// Check is Verify for a validator that knows the decision: it also requires
// every field of the signed statement but Expires and Nonce to equal want's,
// and says which one differs with a *MismatchError. Expires is checked against
// now; the nonce is the signer's to choose, and the caller's to claim once. It
// returns the statement that was signed.
func Check(armored string, message []byte, want Statement, keys []ssh.PublicKey, now time.Time) (ssh.PublicKey, Statement, error) {
	key, st, err := verifyStatement(armored, message, keys)
	if err != nil {
		return nil, Statement{}, err
	}
	if st.IsStart() != want.IsStart() {
		return nil, Statement{}, &MismatchError{Field: keyAction, Signed: st.Action, Want: want.Action}
	}
	wanted := map[string]string{}
	for _, l := range want.lines() {
		wanted[l.key] = l.value
	}
	for _, l := range st.lines() {
		if l.key == keyExpires || l.key == keyNonce {
			continue
		}
		if l.value != wanted[l.key] {
			return nil, Statement{}, &MismatchError{Field: l.key, Signed: l.value, Want: wanted[l.key]}
		}
	}
	if err := checkExpiry(st, now); err != nil {
		return nil, Statement{}, err
	}
	return key, st, nil
}

func checkExpiry(st Statement, now time.Time) error {
	if now.IsZero() {
		return errors.New("check expiry: the current time was not given")
	}
	if !now.Before(st.Expires) {
		return fmt.Errorf("%w at %s; it is now %s", ErrExpired, st.Expires.UTC().Format(expiresLayout), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifyStatement checks the signature, then parses what it covers.
func verifyStatement(armored string, message []byte, keys []ssh.PublicKey) (ssh.PublicKey, Statement, error) {
	key, err := verifySignature(armored, message, keys)
	if err != nil {
		return nil, Statement{}, err
	}
	st, err := ParseStatement(message)
	if errors.Is(err, ErrOlderStatement) {
		return nil, Statement{}, err
	}
	if err != nil {
		return nil, Statement{}, fmt.Errorf("%w: %w", ErrNotStatement, err)
	}
	return key, st, nil
}

// verifySignature checks the SSHSIG envelope and signature; it is what
// `ssh-keygen -Y verify -n rewind` checks, with keys in place of the allowed
// signers lookup.
func verifySignature(armored string, message []byte, keys []ssh.PublicKey) (ssh.PublicKey, error) {
	sig, err := parseArmored(armored)
	if err != nil {
		return nil, err
	}
	// Checked before anything else so a git commit signature fails plainly.
	if sig.Namespace != Namespace {
		return nil, fmt.Errorf("%w: signed in namespace %q, rewind wants %q (ssh-keygen -Y sign -n %s)", ErrWrongNamespace, sig.Namespace, Namespace, Namespace)
	}
	if _, isCert := sig.PublicKey.(*ssh.Certificate); isCert {
		return nil, fmt.Errorf("%w: signed with an SSH certificate; rewind accepts plain keys only", ErrUnknownKey)
	}
	if err := checkKeyType(sig.PublicKey.Type()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownKey, err)
	}
	key := findKey(keys, sig.PublicKey)
	if key == nil {
		return nil, fmt.Errorf("%w: signed by %s key %s, which is not among the %d allowed", ErrUnknownKey, sig.PublicKey.Type(), ssh.FingerprintSHA256(sig.PublicKey), len(keys))
	}
	if isSecurityKey(key.Type()) {
		if err := checkUserPresence(sig.Signature); err != nil {
			return nil, err
		}
	}
	if err := sshsig.Verify(bytes.NewReader(message), sig, key, sig.HashAlgorithm, Namespace); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return key, nil
}

// parseArmored accepts exactly one armored signature, optionally surrounded
// by whitespace: nothing else may ride along with it.
func parseArmored(armored string) (*sshsig.Signature, error) {
	trimmed := strings.TrimSpace(armored)
	if !strings.HasPrefix(trimmed, "-----BEGIN "+sshsig.PEMType+"-----") {
		return nil, fmt.Errorf("%w: does not start with -----BEGIN %s-----", ErrMalformedSignature, sshsig.PEMType)
	}
	block, rest := pem.Decode([]byte(trimmed))
	switch {
	case block == nil:
		return nil, fmt.Errorf("%w: no complete armored block", ErrMalformedSignature)
	case block.Type != sshsig.PEMType:
		return nil, fmt.Errorf("%w: armor type %q, want %q", ErrMalformedSignature, block.Type, sshsig.PEMType)
	case len(block.Headers) != 0:
		return nil, fmt.Errorf("%w: armor has headers", ErrMalformedSignature)
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, fmt.Errorf("%w: text after -----END %s-----", ErrMalformedSignature, sshsig.PEMType)
	}
	sig, err := sshsig.ParseSignature(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSignature, err)
	}
	return sig, nil
}

func findKey(keys []ssh.PublicKey, signer ssh.PublicKey) ssh.PublicKey {
	want := signer.Marshal()
	for _, k := range keys {
		if k != nil && bytes.Equal(k.Marshal(), want) {
			return k
		}
	}
	return nil
}

// checkUserPresence refuses a hardware-key signature made without a touch.
// x/crypto refuses it too; checking here gives the refusal its own error.
func checkUserPresence(sig *ssh.Signature) error {
	var sk struct {
		Flags   byte
		Counter uint32
	}
	if err := ssh.Unmarshal(sig.Rest, &sk); err != nil {
		return fmt.Errorf("%w: read security key flags: %w", ErrMalformedSignature, err)
	}
	const userPresent = 0x01 // PROTOCOL.u2f, SSH_SK_USER_PRESENCE_REQD
	if sk.Flags&userPresent == 0 {
		return fmt.Errorf("%w: flags 0x%02x", ErrNoUserPresence, sk.Flags)
	}
	return nil
}

// checkKeyType allows the key types rewind verifies; DSA and anything newer
// x/crypto might parse are refused by name.
func checkKeyType(keyType string) error {
	switch keyType {
	case ssh.KeyAlgoED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSA,
		ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return nil
	}
	return fmt.Errorf("key type %s is not supported", keyType)
}

func isSecurityKey(keyType string) bool {
	return keyType == ssh.KeyAlgoSKED25519 || keyType == ssh.KeyAlgoSKECDSA256
}
