package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/identity"
)

// Proven is how a decision says who took it: the statement signed, its signature, and
// the proof when not the person's own key ("slack:U…", signed by the Slack bridge).
type Proven struct {
	Statement, Signature, Proof string
}

// slackProofPrefix starts the proof of a decision taken from Slack: slack:U….
const slackProofPrefix = ProofSlack + ":"

// ProveDecision checks, at now, how a decision by who was proven against what this
// severity accepts, and names its proof for the decision log: "slack:U…", "ssh:SHA256:…",
// or "" when none was asked for. The approval gate and the worker's admission of a run both
// judge by it, so what one accepts the other does. maxFor is the longest a signed decision
// may be good for.
func (p Policy) ProveDecision(who Person, d Proven, want identity.Statement, now time.Time, maxFor time.Duration) (string, error) {
	if d.Proof != "" {
		return p.slackProof(who, d, want, now, maxFor)
	}
	if len(p.Rule.Proofs) > 0 {
		if !p.Accepts(ProofSSH) {
			return "", fmt.Errorf("a %s decision is taken only from Slack (severity.levels.%s.proofs): use the buttons on the approval message", p.Severity, p.Severity)
		}
		if d.Signature == "" {
			return "", fmt.Errorf("a %s decision must be proven by %s: sign it with your SSH key (ssh-agent or --key)", p.Severity, strings.Join(p.Rule.Proofs, " or "))
		}
	}
	key, _, err := p.ProveSigned(who, d.Statement, d.Signature, want, now, maxFor)
	if err != nil || key == nil {
		return "", err
	}
	return "ssh:" + ssh.FingerprintSHA256(key), nil
}

// slackProof checks a decision the Slack bridge took: Slack's word counts where the
// severity accepts it, for the person whose Slack user clicked, and only signed by the
// bridge key of the worker's policy, so nobody else can claim a click. It counts so even
// for a person with SSH keys: naming slack in proofs is the policy's choice.
func (p Policy) slackProof(who Person, d Proven, want identity.Statement, now time.Time, maxFor time.Duration) (string, error) {
	user, ok := strings.CutPrefix(d.Proof, slackProofPrefix)
	switch {
	case !ok || user == "":
		return "", fmt.Errorf("proof %q is not one this gate knows (slack:USER): decide with `rewind approve` or the Slack buttons", d.Proof)
	case !p.Accepts(ProofSlack):
		return "", fmt.Errorf("a %s decision cannot be taken from Slack (severity.levels.%s.proofs does not name slack): use `rewind approve`", p.Severity, p.Severity)
	case p.SlackKey == "":
		return "", errors.New("this worker's policy names no Slack bridge key (policy.slack_key), so no decision from Slack counts")
	case who.Slack == "":
		return "", fmt.Errorf("%s has no Slack user in the policy (approvers[].slack): use `rewind approve`", who.Name)
	case who.Slack != user:
		return "", fmt.Errorf("Slack user %s is not %s, whose Slack user is %s in the policy", user, who.Name, who.Slack)
	case d.Signature == "":
		return "", errors.New("a decision from Slack must be signed by the worker's Slack bridge")
	}
	keys, _ := identity.KeysAt([]string{p.SlackKey}, now)
	_, st, err := identity.Check(d.Signature, []byte(d.Statement), want, keys, now)
	if err != nil {
		return "", fmt.Errorf("the decision from Slack is refused: not signed for this by the worker's Slack bridge (%w)", err)
	}
	if st.Expires.After(now.Add(maxFor)) {
		return "", fmt.Errorf("the Slack bridge's statement is good for longer than %s", maxFor)
	}
	return d.Proof, nil
}

// ProveSigned checks a person's signed statement at now when the policy or their keys ask
// for one, and names the key that signed it (nil when nothing was signed). limit is the
// longest the statement may be good for.
func (p Policy) ProveSigned(who Person, statement, signature string, want identity.Statement, now time.Time, limit time.Duration) (ssh.PublicKey, identity.Statement, error) {
	if !p.MustSign(who) && signature == "" {
		return nil, identity.Statement{}, nil
	}
	if signature == "" {
		if len(who.Keys) == 0 {
			return nil, identity.Statement{}, fmt.Errorf("%s has no SSH key in the policy, and this worker requires signatures", who.Name)
		}
		return nil, identity.Statement{}, fmt.Errorf("%s has keys: sign with ssh-agent or --key (or --signature from `ssh-keygen -Y sign -n rewind`)", who.Name)
	}
	keys, outside := identity.KeysAt(who.Keys, now)
	key, st, err := identity.Check(signature, []byte(statement), want, keys, now)
	if err != nil {
		for _, k := range outside {
			if _, _, keyErr := identity.Check(signature, []byte(statement), want, []ssh.PublicKey{k.Key}, now); keyErr == nil {
				return nil, identity.Statement{}, fmt.Errorf("%s's signature is refused: signed with key %s, which %s: sign with a key that is valid now",
					who.Name, ssh.FingerprintSHA256(k.Key), k.Window(now))
			}
		}
		return nil, identity.Statement{}, fmt.Errorf("%s's signature is refused: %w", who.Name, err)
	}
	if st.Expires.After(now.Add(limit)) {
		return nil, identity.Statement{}, fmt.Errorf("%s's statement is good for longer than %s; sign one that expires sooner", who.Name, limit)
	}
	return key, st, nil
}
