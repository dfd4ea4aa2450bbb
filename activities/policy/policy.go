// Package policy answers, from the worker's own configuration, what a stack is and who may
// start and approve its rollbacks. A rollback records each answer (the plan at its start,
// a person's keys when a decision is judged), so replays never read a file and no caller
// can rewrite either.
package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/storage"
)

// Activities hold the worker's configuration.
type Activities struct {
	Config *config.Config
	// Host is this worker's host, for stacks that name none.
	Host string
	// Nonces is where signed starts are claimed once (nil: the evidence store of Config).
	// Every worker of the namespace must share it.
	Nonces storage.Store
	// SlackKey is the Slack bridge's public key (authorized_keys line), read from
	// policy.slack_key once at the worker's start (SlackPublicKey); "" takes no decision
	// from Slack. Plans carry it, so no rollback reads the key file.
	SlackKey string
}

// ResolveInput names the rollback to plan.
type ResolveInput struct {
	Stack    string
	Severity string
}

// Plan returns the plan of a rollback, or a non-retryable error naming what is wrong.
func (a *Activities) Plan(_ context.Context, in ResolveInput) (config.Plan, error) {
	signers, err := a.signerKeys(time.Now())
	if err != nil {
		return config.Plan{}, err
	}
	p, err := a.Config.Plan(in.Stack, in.Severity, a.Host, signers)
	if errors.Is(err, config.ErrUnknownStack) {
		return config.Plan{}, temporal.NewNonRetryableApplicationError(err.Error()+"; nothing was changed", failure.UnknownStack, nil)
	}
	if err != nil {
		return config.Plan{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%v; nothing was changed", err), failure.BadInput, nil)
	}
	p.Policy.SlackKey = a.SlackKey
	return p, nil
}

// GroupInput names a group rollback to resolve.
type GroupInput struct {
	Group    string
	Severity string
}

// GroupPlan returns the plan of a group rollback, or a non-retryable error naming what is
// wrong.
func (a *Activities) GroupPlan(_ context.Context, in GroupInput) (config.GroupPlan, error) {
	signers, err := a.signerKeys(time.Now())
	if err != nil {
		return config.GroupPlan{}, err
	}
	p, err := a.Config.GroupPlan(in.Group, in.Severity, signers)
	if errors.Is(err, config.ErrUnknownGroup) {
		return config.GroupPlan{}, temporal.NewNonRetryableApplicationError(err.Error()+"; nothing was changed", failure.UnknownStack, nil)
	}
	if err != nil {
		return config.GroupPlan{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%v; nothing was changed", err), failure.BadInput, nil)
	}
	p.Policy.SlackKey = a.SlackKey
	return p, nil
}

// SignAsGuard signs a statement as the guard (worker.guard_name) with worker.guard_key,
// so a rollback a guard starts passes a policy that requires signatures.
func (a *Activities) SignAsGuard(_ context.Context, st identity.Statement) (string, error) {
	w := a.Config.Worker
	if st.Person != w.GuardName {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("the guard signs only as %s, not %s", w.GuardName, st.Person), failure.BadInput, nil)
	}
	if w.GuardKey == "" {
		return "", temporal.NewNonRetryableApplicationError("policy.require_signatures is on but worker.guard_key names no key: give the guard an SSH key and list its public key under its approver entry", failure.BadInput, nil)
	}
	signer, err := identity.FileSigner(w.GuardKey)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("worker.guard_key %s: %v", w.GuardKey, err), failure.BadInput, nil)
	}
	return identity.Sign(signer, st)
}

// SlackPublicKey is the authorized_keys line of the Slack bridge's key file (policy.slack_key),
// or "" when none is set: the key the gate takes as Slack's word. The worker reads it once,
// at its start, into Activities.SlackKey.
func SlackPublicKey(keyFile string) (string, error) {
	if keyFile == "" {
		return "", nil
	}
	signer, err := identity.FileSigner(keyFile)
	if err != nil {
		return "", fmt.Errorf("policy.slack_key %s: %w: name the Slack bridge's unencrypted OpenSSH private key, readable by the worker (ssh-keygen -t ed25519 -N '' -f %s), or remove policy.slack_key and slack from the severities' proofs", keyFile, err, keyFile)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
}
