package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/gitref"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/workflows/api"
)

// NewCmdPlan builds `rewind plan OPTION`: what a rollback would do, changing nothing.
func NewCmdPlan(o *Options) *cobra.Command {
	var f startFlags
	cmd := optionCommand(&cobra.Command{
		Use:   "plan quick|full|git|emergency --stack STACK --severity P1|P2|P3",
		Short: "Show what a rollback would do, changing nothing and starting no workflow",
		Long: `Show a rollback before it starts: its steps in order, who must approve and by when,
and what it would restore or check out. For a full rollback every candidate backup is
read whole now, newest first, as the rollback will check it: the plan names the one it
would restore, why newer ones would be skipped, and how long the restore and the downtime
should take on this host.

Nothing is changed and no workflow starts. It reads the stack's store and checkout, so it
runs on the stack's Docker host with the worker's rewind.yaml. Exit 1 when the rollback
would fail (no backup restores, no such version).`,
		Example: "  rewind plan full --stack prod --severity P2\n  rewind start full --stack prod --severity P2 --reason x --dry-run\n  rewind plan quick --stack prod --severity P1 --to v2.5",
	}, &f, o.plan)
	fl := cmd.Flags()
	fl.StringVar(&f.stack, "stack", "", "stack to plan for (required)")
	fl.StringVar(&f.severity, "severity", "", "P1, P2 or P3 (required)")
	fl.StringVar(&f.to, "to", "", "quick and git: the version to go back to (default: the tag before the deployed one)")
	fl.StringVar(&f.backup, "backup", "", "full: the backup to restore instead of the newest good one")
	return cmd
}

func (o *Options) plan(cmd *cobra.Command, option string, f startFlags) error {
	p, cfg, err := o.planOf(option, f)
	if err != nil {
		return err
	}
	return writePlan(o.Out, p, localHost{cmd: cmd, cfg: cfg, stack: f.stack, target: p.Target}, time.Now)
}

// planView is what a plan shows before it reads anything on the host: the request, and
// the stack and approval as this host's rewind.yaml has them.
type planView struct {
	Option, Stack, Severity string
	Target                  config.Stack
	Approval                string
	// Ref is the version a quick or git rollback would go back to; Backup is the one a
	// full rollback must restore, "" for the newest good one.
	Ref, Backup string
}

func (o *Options) planOf(option string, f startFlags) (planView, *config.Config, error) {
	if _, ok := api.WorkflowName(option); !ok {
		return planView{}, nil, badInputf("unknown option %q; use one of %s", option, strings.Join(api.Options(), ", "))
	}
	cfg, s, err := o.localStack(f.stack)
	if err != nil {
		return planView{}, nil, err
	}
	rule, err := cfg.Rule(f.severity)
	if err != nil {
		return planView{}, nil, badInput{err}
	}
	return planView{
		Option: option, Stack: f.stack, Severity: f.severity, Target: s, Approval: approvalPlan(cfg, rule, option),
		Ref: cmp.Or(f.to, gitref.PreviousTag), Backup: f.backup,
	}, cfg, nil
}

// planHost is what a plan reads on the stack's host: the checkout's versions and the
// store's backups, each read whole. `rewind plan` reads this host's; tests give fixed ones.
type planHost interface {
	resolve(dir, ref string) (gitref.Resolved, error)
	backupsOf() ([]BackupView, error)
	readWhole(b BackupView) backups.Verdict
}

type localHost struct {
	cmd    *cobra.Command
	cfg    *config.Config
	stack  string
	target config.Stack
}

func (h localHost) resolve(dir, ref string) (gitref.Resolved, error) {
	return gitref.Resolve(h.cmd.Context(), dir, ref)
}

func (h localHost) backupsOf() ([]BackupView, error) {
	views, unread, err := listBackups(h.cmd, h.cfg, h.stack, h.target)
	if unread != nil {
		fmt.Fprintf(h.cmd.ErrOrStderr(), "warning: %v; the plan shows no drill from those records\n", unread)
	}
	return views, err
}

func (h localHost) readWhole(b BackupView) backups.Verdict {
	return readWhole(h.cmd, h.target, b, "rewind plan", io.Discard)
}

// writePlan prints the plan, reading from the host what it names as it goes: the steps
// and approval at once, then the version or the backups once read.
func writePlan(w io.Writer, p planView, host planHost, now func() time.Time) error {
	fmt.Fprintf(w, "Plan: %s rollback of %s at %s (nothing changes, no workflow starts)\n\nSteps, in order:\n", p.Option, p.Stack, strings.ToUpper(p.Severity))
	for i, step := range api.Steps(p.Option) {
		fmt.Fprintf(w, "  %2d. %s\n", i+1, step)
	}
	fmt.Fprintf(w, "\nApproval: %s\n", p.Approval)
	s := p.Target
	switch p.Option {
	case api.OptionFull:
		return writeRestorePlan(w, p, host, now)
	case api.OptionQuick, api.OptionGit:
		resolved, err := host.resolve(s.WorkingDir, p.Ref)
		if err != nil {
			return fmt.Errorf("the rollback would fail: %w", err)
		}
		fmt.Fprintf(w, "Version: %s (%.12s), from %.12s now checked out in %s; local edits would be stashed under the run's name.\n", resolved.Ref, resolved.Commit, resolved.Head, s.WorkingDir)
	case api.OptionEmergency:
		fmt.Fprintf(w, "Stops every container of compose project %s (SIGKILL after %s), removes them and its networks; the stack stays offline.\n", s.Project, s.StopGracePeriod)
	}
	return nil
}

// approvalPlan says who must approve and by when, as the worker's gate will ask.
func approvalPlan(cfg *config.Config, rule config.Rule, option string) string {
	rank := func(role string) int { return slices.Index(cfg.Severity.Escalation, role) }
	var who []string
	for _, a := range cfg.Approvers {
		if rank(a.Role) >= rank(rule.Role) {
			who = append(who, a.Name)
		}
	}
	if rule.DecisionTime == 0 || option == api.OptionEmergency {
		return fmt.Sprintf("none; the requester must be %s or above (%s)", rule.Role, strings.Join(who, ", "))
	}
	next := "no one higher"
	if i := rank(rule.Role); i >= 0 && i+1 < len(cfg.Severity.Escalation) {
		next = cfg.Severity.Escalation[i+1]
	}
	return fmt.Sprintf("a %s or above (%s), not the requester, within %s; then it escalates to %s, and ends having changed nothing at %s",
		rule.Role, strings.Join(who, ", "), human(rule.DecisionTime), next, human(rule.HardDeadline))
}

// writeRestorePlan reads the candidate backups of every volume, newest first, until one
// would restore, and estimates the time from this host's last staging restore.
func writeRestorePlan(w io.Writer, p planView, host planHost, now func() time.Time) error {
	s := p.Target
	views, err := host.backupsOf()
	if err != nil {
		return err
	}
	rate := newestVerdictRate(views)
	var failed []string
	var restoreBytes int64
	var readFor time.Duration
	fmt.Fprintln(w, "\nBackups:")
	for _, v := range s.Volumes {
		chosen := false
		for _, b := range views {
			if b.Volume != v.Name || (p.Backup != "" && b.Name != p.Backup) {
				continue
			}
			verdict := host.readWhole(b)
			if !verdict.OK {
				fmt.Fprintf(w, "  %s: would skip %s: %s\n", v.Name, b.Name, verdict.Detail)
				continue
			}
			readFor += time.Duration(verdict.Seconds * float64(time.Second))
			restoreBytes += b.Size
			fmt.Fprintf(w, "  %s: would restore %s (%s, %s old; %s)\n", v.Name, b.Name, size(b.Size), human(now().Sub(b.Taken())), verdict.Detail)
			chosen = true
			break
		}
		if !chosen {
			what := "no backup matching " + v.Pattern
			if p.Backup != "" {
				what = "backup " + p.Backup
			}
			fmt.Fprintf(w, "  %s: %s would restore\n", v.Name, what)
			failed = append(failed, v.Name)
		}
	}
	fmt.Fprintln(w, "\nData a full rollback loses:")
	for _, line := range freshness(s, views, now()) {
		fmt.Fprintln(w, "  "+line)
	}
	for _, v := range s.Volumes {
		i := slices.IndexFunc(views, func(b BackupView) bool {
			return b.Volume == v.Name && strings.HasPrefix(b.Reason, backups.DeployReason(""))
		})
		if i >= 0 {
			b := views[i]
			fmt.Fprintf(w, "  %s: the last deploy's backup is %s (%s, %s old); pin it with --backup %s\n", v.Name, b.Name, b.Reason, ago(now().Sub(b.Taken())), b.Name)
		}
	}
	fmt.Fprintln(w, "\nTime:")
	if rate > 0 {
		fmt.Fprintf(w, "  staging restore: about %s (this host's last staging restore ran at %s/s), while approvers decide\n", human(time.Duration(float64(restoreBytes)/rate*float64(time.Second))), meter.MiB(int64(rate)))
	} else {
		fmt.Fprintf(w, "  staging restore: at least the %s it took to read the backups now (no staging restore on this host yet to measure), while approvers decide\n", human(readFor))
	}
	fmt.Fprintf(w, "  downtime: from the stop (at most %s) through the swap (seconds when the volume can be renamed, a copy otherwise) until healthy (at most %s)\n", s.StopGracePeriod, human(s.Checks.HealthTimeout))
	if len(failed) > 0 {
		return errors.New("the rollback would fail: no backup of " + strings.Join(failed, ", ") + " restores; `rewind backups " + p.Stack + "` lists them")
	}
	return nil
}
