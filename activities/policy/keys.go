package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
)

// ReadAllowedSigners reads and parses the policy's allowed signers file (nil when it
// names none) and refuses one key under two names, naming both.
func ReadAllowedSigners(cfg *config.Config) (identity.AllowedSigners, error) {
	path := cfg.Policy.AllowedSigners
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy.allowed_signers: %w", err)
	}
	list, err := identity.ParseAllowedSigners(b)
	if err != nil {
		return nil, &config.Problems{List: []config.Problem{{Key: "policy.allowed_signers", Got: path, Want: "an OpenSSH allowed signers file: " + err.Error()}}}
	}
	if shared := cfg.SharedKeys(list); len(shared) > 0 {
		return nil, &config.Problems{File: path, List: shared}
	}
	return list, nil
}

// signerKeys are the keys of the allowed signers file not expired at the given time, by
// person, as key lines; a line's window travels with its key (valid-before as its
// expiry-time, valid-after as such), so a decision judged later from these lines honours
// it at its own time.
func (a *Activities) signerKeys(at time.Time) (map[string][]string, error) {
	list, err := ReadAllowedSigners(a.Config)
	if err != nil {
		return nil, badPolicy(err)
	}
	keys := map[string][]string{}
	for _, person := range a.Config.Approvers {
		for _, s := range list {
			// A key valid only later is still listed, with its valid-after.
			later := at
			if s.ValidAfter.After(at) {
				later = s.ValidAfter
			}
			if !s.Allows(person.Name, identity.Namespace, later) {
				continue
			}
			var options []string
			if !s.ValidAfter.IsZero() {
				options = append(options, fmt.Sprintf("valid-after=%q", s.ValidAfter.UTC().Format("20060102150405Z")))
			}
			if !s.ValidBefore.IsZero() {
				options = append(options, fmt.Sprintf("expiry-time=%q", s.ValidBefore.UTC().Format("20060102150405Z")))
			}
			line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.Key)))
			if len(options) > 0 {
				line = strings.Join(options, ",") + " " + line
			}
			keys[person.Name] = append(keys[person.Name], line)
		}
	}
	return keys, nil
}

func badPolicy(err error) error {
	var problems *config.Problems
	if errors.As(err, &problems) {
		return temporal.NewNonRetryableApplicationError(err.Error(), failure.BadPolicy, nil)
	}
	return err
}

// KeysInput names the person whose keys a decision is judged by.
type KeysInput struct {
	Person string
}

// PersonKeys are a person's keys as the policy says at one moment: approvers[].keys (each
// with its expiry-time, if any) and the lines of the allowed signers file valid then.
type PersonKeys struct {
	Person string
	// Found is false when the policy no longer names the person.
	Found bool
	Keys  []string `json:",omitempty"`
	// Slack is the person's Slack user now, and SlackKey the worker's Slack bridge key.
	// SlackRead says they were read: results recorded by earlier releases lack all three,
	// and their decisions are judged by the plan's.
	Slack     string `json:",omitempty"`
	SlackKey  string `json:",omitempty"`
	SlackRead bool   `json:",omitempty"`
	// At is when the file was read.
	At time.Time
}

// KeysNow re-reads the allowed signers file and returns a person's keys valid now, with
// their Slack user and the bridge key the worker holds. A
// decision calls it, as a local activity whose result is recorded, when it is judged: a
// key removed from the file or past its valid-before since the rollback started no longer
// counts.
func (a *Activities) KeysNow(_ context.Context, in KeysInput) (PersonKeys, error) {
	now := time.Now().UTC()
	signers, err := a.signerKeys(now)
	if err != nil {
		return PersonKeys{}, err
	}
	who, found, err := a.Config.Person(in.Person, signers)
	if err != nil {
		return PersonKeys{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadPolicy, nil)
	}
	return PersonKeys{Person: in.Person, Found: found, Keys: who.Keys, Slack: who.Slack, SlackKey: a.SlackKey, SlackRead: true, At: now}, nil
}
