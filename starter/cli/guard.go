package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

type guardFlags struct {
	stack, version, requester, keyFile string
	window, interval                   time.Duration
	// noBackup skips the backup rewind deployed takes first; deploy is the deploy
	// command given after --, run between that backup and the guard.
	noBackup bool
	deploy   []string
	// backups are what rewind deployed took, one per volume.
	backups []string
}

// NewCmdGuard builds `rewind guard` (deployed false) and `rewind deployed` (true): watch a
// fresh deploy and act on the runbook's criteria.
func NewCmdGuard(o *Options, deployed bool) *cobra.Command {
	var f guardFlags
	use, short := "guard --stack STACK [--window 30m]", "Watch a stack and roll it back when the runbook's criteria say so"
	if deployed {
		use, short = "deployed --stack STACK --version VERSION [-- DEPLOY COMMAND...]", "Back up a stack, deploy it, and guard the deploy for the stack's window"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: `Start the guard of a stack as the workflow rewind-<stack>-guard (a newer deploy's guard
replaces a running one). Every interval it samples the containers (state, restarts,
memory), the API (health, 5xx ratio, latency against the first samples) and the data,
and judges the worker's criteria, shaped like the runbook's "When to Execute Rollback".
A criterion counts only once it has held for its window (for: 30s, for_samples: 5) in
samples in a row; "rewind watch" shows how far along it is ("2 of 3 samples over the
limit"). A critical finding starts the stack's guard.option rollback at P1 as the guard
(a full one, which restores a backup over the data, is proposed at P2 for an approver
unless guard.restore_without_approval says otherwise), a major one proposes it at P2, a
minor one is recorded. A guard acts once: afterwards it keeps looking and records, and
ends when its rollback closes; start a new guard to have it act again. It ends quietly
when the window passes, and stops when someone starts a rollback of the stack by hand
(the worker checks with Temporal that one runs).

Whoever starts a guard lets it start that P1 rollback, so they need the authority to
start it themselves: a person of the worker's policy with the P1 role, who signs (ssh-agent
or --key) when the policy requires signatures or lists keys of theirs.

"rewind deployed" takes a backup first, as rewind backup --wait does (reason "before
deploying VERSION"), so a full rollback of a bad deploy loses only what was written after
it: the guard's full rollback restores that backup, and rewind plan names it. Given a
command after --, it runs it (the deploy) once the backup is stored, and starts the guard
only if the command succeeds; without one, call it right after the new version is up
(the backup then holds what the new version wrote in its first seconds). --no-backup
skips the backup.`,
		Example: "  rewind deployed --stack prod --version v2.7 -- docker compose -f docker-compose.prod.yml up -d\n  rewind deployed --stack prod --version v2.6\n  rewind guard --stack prod --window 1h\n  rewind watch rewind-prod-guard",
		Args: func(cmd *cobra.Command, args []string) error {
			if !deployed || (len(args) > 0 && cmd.ArgsLenAtDash() != 0) {
				return cobra.NoArgs(cmd, args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !deployed {
				return o.guard(cmd, f)
			}
			if strings.TrimSpace(f.version) == "" {
				return badInputf("deployed needs --version: the version now running, for the record")
			}
			f.deploy = args
			return o.deployed(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stack, "stack", "", "stack to guard (required)")
	fl.StringVar(&f.version, "version", "", "the version just deployed, for the record")
	fl.StringVar(&f.requester, "as", "", "who starts the guard (default: identity.name, then $USER); they need the authority to start the stack's guard rollback at P1")
	fl.StringVar(&f.keyFile, "key", "", "private SSH key file to sign the start with (default: identity.key, then ssh-agent)")
	fl.DurationVar(&f.window, "window", 0, "how long to watch (default: the stack's guard.window, 30m)")
	fl.DurationVar(&f.interval, "interval", 0, "how often to sample (default: the stack's guard.interval, 15s)")
	if deployed {
		fl.BoolVar(&f.noBackup, "no-backup", false, "guard only: take no backup first (a full rollback then restores an older one)")
	}
	return cmd
}

// deployed is rewind deployed: a backup of the stack, waited for; the deploy command, if
// given; then the guard, told which backup came before the deploy.
func (o *Options) deployed(cmd *cobra.Command, f guardFlags) error {
	if strings.TrimSpace(f.stack) == "" {
		return badInputf("missing --stack; see `rewind deployed --help`")
	}
	if !f.noBackup {
		res, _, err := o.takeBackup(cmd, backupFlags{stack: f.stack, reason: backups.DeployReason(f.version), requester: f.requester, keyFile: f.keyFile, wait: true})
		if err != nil {
			return fmt.Errorf("%w; nothing was deployed or guarded (--no-backup deploys without one)", err)
		}
		printBackup(o, res)
		for _, b := range res.Backups {
			f.backups = append(f.backups, b.Name)
		}
	}
	if len(f.deploy) > 0 {
		fmt.Fprintf(o.Out, "deploying %s: %s\n", f.version, strings.Join(f.deploy, " "))
		run := exec.CommandContext(cmd.Context(), f.deploy[0], f.deploy[1:]...)
		run.Stdin, run.Stdout, run.Stderr = os.Stdin, o.Out, o.Err
		if err := run.Run(); err != nil {
			return fmt.Errorf("the deploy command failed (%w): no guard started; the backup taken before it is %s", err, strings.Join(f.backups, ", "))
		}
	}
	return o.guard(cmd, f)
}

func (o *Options) guard(cmd *cobra.Command, f guardFlags) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	if strings.TrimSpace(f.stack) == "" {
		return badInputf("missing --stack; see `rewind guard --help`")
	}
	if f.window < 0 || f.interval < 0 {
		return badInputf("--window and --interval must be positive durations, like 30m and 15s")
	}
	requester := firstNonEmpty(f.requester, cfg.Identity.Name, os.Getenv("USER"))
	if len(cfg.Approvers) > 0 {
		if _, ok := cfg.Approver(requester); !ok {
			return badInputf("%s is not in the policy of rewind.yaml and may not start a guard; pass --as NAME", requester)
		}
	}
	if len(cfg.Stacks) > 0 {
		if _, err := cfg.Stack(f.stack); err != nil {
			return badInput{err}
		}
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	if err := o.workersPolling(cmd, c, cfg, f.stack); err != nil {
		return err
	}
	id := api.GuardWorkflowID(f.stack)
	req := api.GuardRequest{Stack: f.stack, Requester: requester, Version: f.version, Backups: f.backups, RequestedAt: time.Now(), Window: f.window, Interval: f.interval}
	// Starting a guard lets it start the stack's guard rollback at P1, so the starter signs
	// for that as for a start of their own, when the worker would ask them to.
	option := "quick" // the guard's default, when this rewind.yaml lists no stacks
	if stack, err := cfg.Stack(f.stack); err == nil {
		option = stack.Guard.Option
	}
	nonce, err := identity.NewNonce()
	if err != nil {
		return err
	}
	p, err := o.prove(api.GuardStartStatement(f.stack, option, requester, startExpiry(time.Now()), nonce), signSource{keyFile: f.keyFile}, mustSign(cfg, requester))
	if err != nil {
		return err
	}
	req.Statement, req.Signature = p.statement, p.signature
	run, err := c.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: cfg.Temporal.TaskQueue,
		// A newer deploy's guard replaces the one watching the deploy before it.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            fmt.Sprintf("guard of %s %s, by %s", f.stack, f.version, requester),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			api.StackKey.ValueSet(f.stack),
			api.OptionKey.ValueSet("guard"),
			api.PhaseKey.ValueSet("starting"),
		),
	}, api.GuardWorkflow, req)
	if err != nil {
		return fmt.Errorf("start the guard of %s: %w", f.stack, err)
	}
	fmt.Fprintf(o.Out, "guarding %s: workflow %s run %s\nfollow it: rewind watch %s\nWeb UI: %s\n", f.stack, id, run.GetRunID(), id, o.uiLink(id, run.GetRunID()))
	if len(f.backups) > 0 {
		fmt.Fprintf(o.Out, "backup before the deploy: %s (named in the guard's rollback; a full one restores it)\n", strings.Join(f.backups, ", "))
	}
	return nil
}

// stopGuard tells the stack's guard that a rollback was started by hand; a stack without
// a running guard is the usual case.
func (o *Options) stopGuard(cmd *cobra.Command, c client.Client, stack, who string) {
	err := c.SignalWorkflow(cmd.Context(), api.GuardWorkflowID(stack), "", api.RollbackStartedSignal, who)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		fmt.Fprintf(o.Err, "note: could not tell the guard of %s to stop: %v\n", stack, err)
	}
}
