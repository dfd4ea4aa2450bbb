package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Group is stacks on several hosts rolled back together (`rewind start … --group`): one
// request, one approval, each stack on its own host.
type Group struct {
	Stacks []string `mapstructure:"stacks"`
	// Concurrency is how many stacks roll back at once (default: all).
	Concurrency int `mapstructure:"concurrency"`
	// OnFailure is what a failed stack does to the rest: stop starts no more of them
	// (the default), continue goes on.
	OnFailure string `mapstructure:"on_failure"`
}

// What a failed stack of a group does to the others.
const (
	OnFailureStop     = "stop"
	OnFailureContinue = "continue"
)

// GroupPlan is what the worker's configuration says of a group rollback: the stacks in
// order, how many at once, what a failure does, and the policy that gates the whole group.
type GroupPlan struct {
	Group  string
	Stacks []string
	// Hosts are the stacks' Docker hosts, by stack.
	Hosts       map[string]string
	Concurrency int
	OnFailure   string
	Policy      Policy
}

// GroupPlan resolves a rollback of a group at severity.
func (c *Config) GroupPlan(group, severity string, signers map[string][]string) (GroupPlan, error) {
	g, ok := c.Groups[group]
	if !ok {
		return GroupPlan{}, fmt.Errorf("%w %q; this worker's configuration lists: %s", ErrUnknownGroup, group, strings.Join(c.GroupNames(), ", "))
	}
	policy, err := c.policy(severity, signers)
	if err != nil {
		return GroupPlan{}, err
	}
	g.fillDefaults()
	hosts := map[string]string{}
	for _, s := range g.Stacks {
		hosts[s] = c.Stacks[s].Host
	}
	return GroupPlan{Group: group, Stacks: slices.Clone(g.Stacks), Hosts: hosts, Concurrency: g.Concurrency, OnFailure: g.OnFailure, Policy: policy}, nil
}

// GroupNames lists the configured groups, sorted.
func (c *Config) GroupNames() []string {
	names := make([]string, 0, len(c.Groups))
	for n := range c.Groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (g *Group) fillDefaults() {
	if g.Concurrency == 0 {
		g.Concurrency = len(g.Stacks)
	}
	if g.OnFailure == "" {
		g.OnFailure = OnFailureStop
	}
}

func (c *Config) groupProblems(add func(key, got, want string)) {
	for _, name := range c.GroupNames() {
		g, key := c.Groups[name], "groups."+name
		if !stackName.MatchString(name) {
			add(key, quote(name), "a group name of lowercase letters, digits, '-' and '_' (it becomes the workflow ID rewind-group-<group>)")
		}
		if len(g.Stacks) == 0 {
			add(key+".stacks", "nothing", "the stacks the group rolls back, each listed under stacks")
		}
		for i, s := range g.Stacks {
			if _, ok := c.Stacks[s]; !ok {
				add(fmt.Sprintf("%s.stacks[%d]", key, i), quote(s), "a stack listed under stacks: "+strings.Join(c.StackNames(), ", "))
			} else if slices.Index(g.Stacks, s) != i {
				add(fmt.Sprintf("%s.stacks[%d]", key, i), quote(s), "a stack listed once")
			}
		}
		if g.Concurrency < 0 {
			add(key+".concurrency", strconv.Itoa(g.Concurrency), "how many stacks roll back at once: 1 or more (default: all)")
		}
		if g.OnFailure != "" && g.OnFailure != OnFailureStop && g.OnFailure != OnFailureContinue {
			add(key+".on_failure", quote(g.OnFailure), "stop (start no more stacks after a failure) or continue")
		}
	}
}

// GroupStacks are the stacks a request touches: the group's, as far as this file knows
// them, or the one stack.
func (c *Config) GroupStacks(group, stack string) []string {
	if group == "" {
		return []string{stack}
	}
	return slices.Clone(c.Groups[group].Stacks)
}
