package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Plan is what the worker's configuration says of one rollback: the stack's target and
// the policy that gates it. The worker hands it to the workflow as a recorded result, so
// a rollback never takes either from whoever started it.
type Plan struct {
	Stack  string
	Target Stack
	// HostQueue is the task queue of the worker on the stack's Docker host.
	HostQueue string
	// Compose is the operator's compose CLI; empty detects it on the host.
	Compose []string `json:",omitempty"`
	Policy  Policy
	// HeartbeatTimeout is how soon a step whose worker died is retried.
	HeartbeatTimeout time.Duration `json:",omitempty"`
	// ScheduleToStart is how long a step waits for a worker on the host to take it.
	ScheduleToStart time.Duration `json:",omitempty"`
	// GuardName is who a guard acts as when it starts a rollback.
	GuardName string `json:",omitempty"`
	// Protected are folders of this host a code rollback must not move or stash away:
	// the stack's backups and Rewind's evidence and state.
	Protected []string `json:",omitempty"`
}

// Policy is who may start and approve a rollback of one severity: the runbook's
// "Rollback Authority & Escalation", with the keys people prove themselves with.
type Policy struct {
	Severity string
	Rule     Rule
	// Escalation lists roles from least to most authority.
	Escalation []string
	People     []Person
	// RequireSignatures refuses unsigned starts and decisions.
	RequireSignatures bool `json:",omitempty"`
	// SlackKey is the Slack bridge's public key (authorized_keys line): a decision with
	// Slack proof counts only when signed by it.
	SlackKey string `json:",omitempty"`
}

// Accepts says whether a decision at this severity may be proven by proof (ProofSSH or
// ProofSlack). A rule that names no proofs accepts SSH signatures and never Slack; there,
// as before proofs existed, a person without keys may still decide unsigned unless
// require_signatures is on (see MustSign). A rule that names proofs takes no unsigned
// decision.
func (p Policy) Accepts(proof string) bool {
	if len(p.Rule.Proofs) == 0 {
		return proof == ProofSSH
	}
	return slices.Contains(p.Rule.Proofs, proof)
}

// Person is someone the policy names, with their SSH public keys (authorized_keys lines).
type Person struct {
	Name string
	Role string
	Keys []string `json:",omitempty"`
	// Slack is their Slack user ID, when they may decide from Slack.
	Slack string `json:",omitempty"`
}

// Rank is how much authority a role has; -1 for a role the policy does not know.
func (p Policy) Rank(role string) int { return slices.Index(p.Escalation, role) }

// MustSign says whether a person's starts and decisions need a signature: always when the
// policy requires them, and whatever it says when the person has keys, or anyone could
// act in their name unsigned.
func (p Policy) MustSign(who Person) bool { return p.RequireSignatures || len(who.Keys) > 0 }

// Person finds someone by name.
func (p Policy) Person(name string) (Person, bool) {
	for _, x := range p.People {
		if x.Name == name {
			return x, true
		}
	}
	return Person{}, false
}

// ErrUnknownStack and ErrUnknownGroup are returned (wrapped) for a stack or group the
// configuration does not list.
var (
	ErrUnknownStack = errors.New("unknown stack")
	ErrUnknownGroup = errors.New("unknown group")
)

// Plan resolves a rollback of stack at severity: its target, its host's task queue (the
// stack's host, else host, the worker's own) and its policy. signers are more keys from an
// allowed signers file, by person.
func (c *Config) Plan(stack, severity, host string, signers map[string][]string) (Plan, error) {
	s, ok := c.Stacks[stack]
	if !ok {
		return Plan{}, fmt.Errorf("%w %q; this worker's configuration lists: %s", ErrUnknownStack, stack, strings.Join(c.StackNames(), ", "))
	}
	policy, err := c.policy(severity, signers)
	if err != nil {
		return Plan{}, err
	}
	if s.Host != "" {
		host = s.Host
	}
	p := Plan{
		Stack:            stack,
		Target:           s,
		HostQueue:        c.Temporal.TaskQueue + "@" + host,
		Compose:          c.Compose.Command,
		HeartbeatTimeout: c.Worker.HeartbeatTimeout,
		ScheduleToStart:  c.Worker.ScheduleToStart,
		GuardName:        c.Worker.GuardName,
		Policy:           policy,
	}
	for _, dir := range []string{s.Backups.Dir, c.Evidence.Dir, c.Worker.StateDir} {
		if abs, err := filepath.Abs(dir); dir != "" && err == nil {
			p.Protected = append(p.Protected, abs)
		}
	}
	return p, nil
}

// policy is who may start and approve a rollback at severity.
func (c *Config) policy(severity string, signers map[string][]string) (Policy, error) {
	rule, err := c.Rule(severity)
	if err != nil {
		return Policy{}, err
	}
	p := Policy{
		Severity: strings.ToUpper(severity), Rule: rule, Escalation: c.Severity.Escalation,
		RequireSignatures: c.Policy.RequireSignatures,
	}
	for _, a := range c.Approvers {
		keys := append(slices.Clone(a.Keys), signers[a.Name]...)
		if a.PublicKey != "" {
			k, err := bareKey(a.PublicKey)
			if err != nil {
				return Policy{}, fmt.Errorf("approver %s: public_key: %w", a.Name, err)
			}
			keys = append(keys, k)
		}
		p.People = append(p.People, Person{Name: a.Name, Role: a.Role, Keys: keys, Slack: a.Slack})
	}
	return p, nil
}

// bareKey turns the bare base64 ed25519 key of a public_key (earlier configurations) into an
// authorized_keys line.
func bareKey(b64 string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return "", fmt.Errorf("want a base64 ed25519 public key (32 bytes) or keys: [\"ssh-ed25519 AAAA...\"]")
	}
	pub, err := ssh.NewPublicKey(ed25519.PublicKey(raw))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), nil
}
