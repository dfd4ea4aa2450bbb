package cli

import (
	"slices"
	"strings"
	"time"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/workflows/api"
	"github.com/spf13/cobra"
)

// startFlags are what the operator decides when starting a rollback.
type startFlags struct {
	stack, group, severity, reason, requester, to, backup string
	wait, reset, noPutBack, printStatement, dryRun        bool
	keyFile, statementFile, signatureFile                 string
}

// optionCommand makes cmd take one rollback option (quick, full, git, emergency) as its
// argument and run with it and the flags f holds once parsed.
func optionCommand(cmd *cobra.Command, f *startFlags, run func(cmd *cobra.Command, option string, f startFlags) error) *cobra.Command {
	cmd.Args = cobra.ExactArgs(1)
	cmd.ValidArgs = api.Options()
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return run(cmd, args[0], *f)
	}
	return cmd
}

// newRequest turns the operator's decisions into a rollback request: only what they
// decide, nothing of the stack's target or policy, which the worker owns.
func newRequest(option string, f startFlags, requester string, now time.Time) (api.Request, error) {
	if _, ok := api.WorkflowName(option); !ok {
		return api.Request{}, badInputf("unknown option %q; use one of %s", option, strings.Join(api.Options(), ", "))
	}
	target := map[bool]string{false: "--stack", true: "--group"}[f.group != ""]
	if f.stack != "" && f.group != "" {
		return api.Request{}, badInputf("--stack and --group both given: roll back one stack, or the stacks of a group")
	}
	var missing []string
	for name, v := range map[string]string{target: f.stack + f.group, "--severity": f.severity, "--reason": f.reason} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return api.Request{}, badInputf("missing %s; see `rewind start --help`", strings.Join(missing, ", "))
	}
	severity := strings.ToUpper(f.severity)
	if !slices.Contains(config.Severities, severity) {
		return api.Request{}, badInputf("unknown severity %q; use P1 (critical), P2 (major) or P3 (minor)", f.severity)
	}
	if strings.TrimSpace(requester) == "" {
		return api.Request{}, badInputf("who asks is unknown: pass --as NAME or set identity.name in rewind.yaml")
	}
	if f.backup != "" && option != api.OptionFull {
		return api.Request{}, badInputf("--backup pins what a full rollback restores; a %s rollback restores no data", option)
	}
	if (f.to != "" || f.reset) && option != api.OptionQuick && option != api.OptionGit {
		return api.Request{}, badInputf("--to and --reset move the git checkout of quick and git rollbacks; a %s rollback does not", option)
	}
	if f.group != "" && f.backup != "" {
		return api.Request{}, badInputf("--backup names one stack's backup; a group restores each stack's newest good backup")
	}
	return api.Request{
		Stack: f.stack, Group: f.group, Option: option, Severity: severity, Reason: f.reason, Requester: requester,
		RequestedAt: now.UTC(), Ref: f.to, Reset: f.reset, Backup: f.backup, NoPutBack: f.noPutBack,
	}, nil
}
