package cli

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// NewCmdStart builds `rewind start OPTION`.
func NewCmdStart(o *Options) *cobra.Command {
	var f startFlags
	cmd := optionCommand(&cobra.Command{
		Use:   "start quick|full|git|emergency --stack STACK --severity P1|P2|P3 --reason TEXT",
		Short: "Start a rollback of a stack",
		Long: `Start a rollback of a stack as the workflow rewind-<stack>.

The request names only what you decide (stack, option, severity, reason, version or
backup); the worker on the stack's Docker host takes the stack's compose files, volumes,
backups and approval policy from its own configuration. Only one rollback of a stack runs
at a time: a second start is refused and names the running one. P1 proceeds at once;
P2 and P3 wait for an approver (rewind approve).

When you have an SSH key (ssh-agent, --key or identity.key), the request is signed: the
statement names the workflow, stack or group, option, severity, version, --reset, the
pinned backup, --no-put-back, a digest of the reason, a fresh nonce and an expiry a few
minutes away. The worker starts only what it names, and only once. Whoever has keys in
the policy must sign; a worker with policy.require_signatures refuses every unsigned start.`,
		Example: `  rewind start emergency --stack prod --severity P1 --reason "memory leak takes the host down"
  rewind start full --stack prod --severity P2 --reason "market_data corrupted" --wait
  rewind start full --stack prod --severity P2 --reason "restore last night's" --backup questdb_backup_20261125_020000.tar.gz
  rewind start quick --stack prod --severity P1 --reason "API 500s after deploy" --to v2.5
  rewind start git --stack prod --severity P3 --reason "bug in v2.6" --to HEAD~1 --reset`,
	}, &f, o.start)
	fl := cmd.Flags()
	fl.StringVar(&f.stack, "stack", "", "stack to roll back, as the worker's rewind.yaml names it under stacks: (required, or --group)")
	fl.StringVar(&f.group, "group", "", "roll back every stack of this group (rewind.yaml groups:) on its own host, with one approval, as workflow rewind-group-<group>")
	fl.StringVar(&f.severity, "severity", "", "P1 critical, P2 major or P3 minor (required)")
	fl.StringVar(&f.reason, "reason", "", "what is wrong, for the incident record (required)")
	fl.StringVar(&f.requester, "as", "", "who asks for the rollback (default: identity.name, then $USER)")
	fl.BoolVar(&f.wait, "wait", false, "wait for the rollback to finish and exit 1 if it failed")
	fl.StringVar(&f.to, "to", "", "quick and git: version to go back to: a tag, a commit, HEAD~1 (default: the tag before the deployed one)")
	fl.BoolVar(&f.reset, "reset", false, "git: move the branch too (git reset --hard) instead of checking out a detached HEAD")
	fl.StringVar(&f.backup, "backup", "", "full: restore this backup (its file name) instead of the newest good one; it is still proven to restore before anything changes")
	fl.BoolVar(&f.noPutBack, "no-put-back", false, "if the rollback fails after changing the stack, leave the stack as the failure left it instead of putting it back")
	fl.StringVar(&f.keyFile, "key", "", "private SSH key file to sign with (default: identity.key, then ssh-agent)")
	fl.StringVar(&f.statementFile, "statement", "", "a statement you signed by hand (see --print-statement)")
	fl.StringVar(&f.signatureFile, "signature", "", "its signature, from `ssh-keygen -Y sign -n rewind -f KEY STATEMENT`")
	fl.BoolVar(&f.printStatement, "print-statement", false, "print the statement to sign for this start and exit (sign it by hand, then pass --statement and --signature)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "show the plan (rewind plan) instead: nothing changes, no workflow starts")
	fl.BoolVar(&o.JSON, "json", false, "print the result as JSON")
	return cmd
}

func (o *Options) start(cmd *cobra.Command, option string, f startFlags) error {
	if f.dryRun {
		return o.plan(cmd, option, f)
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	requester := firstNonEmpty(f.requester, cfg.Identity.Name, os.Getenv("USER"))
	req, err := newRequest(option, f, requester, time.Now())
	if err != nil {
		return err
	}
	if err := localChecks(cfg, req); err != nil {
		return err
	}
	id, name, label := api.WorkflowID(req.Stack), "", req.Stack
	if req.Group != "" {
		id, label = api.GroupWorkflowID(req.Group), "group "+req.Group
	}
	// The statement names everything the request decides, and a nonce: the worker admits
	// it once, though it stays in the run's history for anyone to read.
	nonce, err := identity.NewNonce()
	if err != nil {
		return err
	}
	st := api.StartStatement(req, id, startExpiry(time.Now()), nonce)
	if f.printStatement {
		_, err := o.Out.Write(st.Text())
		return err
	}
	p, err := o.prove(st, signSource{keyFile: f.keyFile, statementFile: f.statementFile, signatureFile: f.signatureFile}, mustSign(cfg, requester))
	if err != nil {
		return err
	}
	req.Statement, req.Signature = p.statement, p.signature
	c, err := o.Client()
	if err != nil {
		return err
	}
	if err := o.workersPolling(cmd, c, cfg, cfg.GroupStacks(req.Group, req.Stack)...); err != nil {
		return err
	}
	name, _ = api.WorkflowName(option)
	if req.Group != "" {
		name = api.FleetWorkflow
	}
	opts := onlyOne(id, cfg.Temporal.TaskQueue)
	opts.StaticSummary = fmt.Sprintf("%s rollback of %s, %s, by %s", option, label, req.Severity, requester)
	opts.StaticDetails = fmt.Sprintf("**Reason:** %s\n\n**Requested by:** %s at %s", req.Reason, requester, req.RequestedAt.Format(time.RFC3339))
	opts.TypedSearchAttributes = temporal.NewSearchAttributes(
		api.StackKey.ValueSet(cmp.Or(req.Stack, "group-"+req.Group)),
		api.OptionKey.ValueSet(option),
		api.SeverityKey.ValueSet(req.Severity),
		api.PhaseKey.ValueSet("starting"),
	)
	run, err := c.ExecuteWorkflow(cmd.Context(), opts, name, req)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			what := "stack " + label
			if req.Group != "" {
				what = label
			}
			return badInputf("%s already has a rollback running: %s (run %s)%s; follow it with `rewind status %s` or stop it with `rewind cancel %s`",
				what, id, started.RunId, o.describeRunning(cmd, id), id, id)
		}
		return fmt.Errorf("start %s rollback of %s: %w", option, label, err)
	}
	for _, stack := range cfg.GroupStacks(req.Group, req.Stack) {
		o.stopGuard(cmd, c, stack, requester)
	}
	if !o.JSON {
		fmt.Fprintf(o.Out, "started %s rollback of %s (%s): workflow %s run %s\nWeb UI: %s\n", option, label, p.describe(), id, run.GetRunID(), o.uiLink(id, run.GetRunID()))
	}
	if !f.wait {
		if o.JSON {
			return o.printJSON(map[string]string{"workflow_id": id, "run_id": run.GetRunID(), "ui": o.uiLink(id, run.GetRunID())})
		}
		return nil
	}
	var result api.Result
	if err := run.Get(cmd.Context(), &result); err != nil {
		if o.JSON {
			_ = o.printJSON(map[string]string{"workflow_id": id, "run_id": run.GetRunID(), "outcome": "failed", "error": failureOf(err)})
		}
		return fmt.Errorf("rollback %s failed: %s", id, failureOf(err))
	}
	if o.JSON {
		return o.printJSON(result)
	}
	printResult(o, result)
	return nil
}

// workersPolling refuses a start no worker would run: nobody polls the rollback task
// queue or, when this rewind.yaml names a stack's host, that host's queue. Each queue is
// asked once, however many stacks share it.
func (o *Options) workersPolling(cmd *cobra.Command, c client.Client, cfg *config.Config, stacks ...string) error {
	type queue struct {
		name, serves string
		kind         enumspb.TaskQueueType
	}
	queues := []queue{{cfg.Temporal.TaskQueue, "rollback workflows", enumspb.TASK_QUEUE_TYPE_WORKFLOW}}
	for _, stack := range stacks {
		s, err := cfg.Stack(stack)
		if err != nil || s.Host == "" {
			continue
		}
		name := api.HostTaskQueue(cfg.Temporal.TaskQueue, s.Host)
		if !slices.ContainsFunc(queues, func(q queue) bool { return q.name == name }) {
			queues = append(queues, queue{name, "the Docker steps of stack " + stack + " on " + s.Host, enumspb.TASK_QUEUE_TYPE_ACTIVITY})
		}
	}
	// A worker that is restarting, or one that re-polls after Temporal restarted, shows
	// up within seconds: wait that long before refusing.
	deadline := time.Now().Add(workerGrace)
	for _, q := range queues {
		for waited := false; ; waited = true {
			resp, err := c.DescribeTaskQueue(cmd.Context(), q.name, q.kind)
			if err != nil {
				return fmt.Errorf("ask Temporal which workers poll %s: %w", q.name, err)
			}
			if len(resp.GetPollers()) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return badInputf("no worker is polling %s (%s): start the Rewind worker there (systemctl start rewind-worker) and try again; nothing was started", q.name, q.serves)
			}
			if !waited {
				fmt.Fprintf(cmd.ErrOrStderr(), "waiting up to %s for a worker to poll %s (%s)…\n", workerGrace, q.name, q.serves)
			}
			select {
			case <-cmd.Context().Done():
				return cmd.Context().Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// workerGrace is how long a start waits for a worker to appear on its task queues.
const workerGrace = 5 * time.Second

// localChecks refuse, before anything starts, what the worker would refuse anyway, when
// this machine's rewind.yaml knows the stacks and people: the worker still decides.
func localChecks(cfg *config.Config, req api.Request) error {
	if req.Group != "" {
		if _, ok := cfg.Groups[req.Group]; !ok && len(cfg.Stacks) > 0 {
			return badInputf("unknown group %q; known groups: %s", req.Group, strings.Join(cfg.GroupNames(), ", "))
		}
	} else if len(cfg.Stacks) > 0 {
		if _, err := cfg.Stack(req.Stack); err != nil {
			return badInput{err}
		}
	}
	if len(cfg.Approvers) == 0 {
		return nil
	}
	who, ok := cfg.Approver(req.Requester)
	if !ok {
		return badInputf("%s is not in the policy of rewind.yaml and may not start rollbacks; pass --as NAME", req.Requester)
	}
	rule, err := cfg.Rule(req.Severity)
	if err != nil {
		return badInput{err}
	}
	rank := func(role string) int { return slices.Index(cfg.Severity.Escalation, role) }
	if (rule.DecisionTime == 0 || req.Option == api.OptionEmergency) && rank(who.Role) < rank(rule.Role) {
		return badInputf("%s is %s and may not start a %s %s rollback: it needs %s or above", who.Name, who.Role, req.Severity, req.Option, rule.Role)
	}
	return nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func (o *Options) describeRunning(cmd *cobra.Command, id string) string {
	d, err := o.client.DescribeWorkflowExecution(cmd.Context(), id, "")
	if err != nil {
		return ""
	}
	info := d.GetWorkflowExecutionInfo()
	return fmt.Sprintf(", the %s rollback started %s", strings.ToLower(info.GetType().GetName()), info.GetStartTime().AsTime().Local().Format(time.RFC3339))
}

func printResult(o *Options, r api.Result) {
	fmt.Fprintf(o.Out, "%s rollback of %s: %s\n", r.Option, r.Stack, r.Outcome)
	for _, s := range r.Steps {
		fmt.Fprintf(o.Out, "  %s %s", icon(s.State), s.Name)
		if s.Detail != "" {
			fmt.Fprintf(o.Out, ": %s", s.Detail)
		}
		fmt.Fprintln(o.Out)
	}
	if r.Notice != "" {
		fmt.Fprintf(o.Out, "NOTICE: %s\n", r.Notice)
	}
	for _, e := range r.Evidence {
		fmt.Fprintf(o.Out, "evidence: %s\n", e)
	}
}

func icon(state string) string {
	switch state {
	case api.StateDone:
		return "✔"
	case api.StateRunning:
		return "◌"
	case api.StateWaiting:
		return "⏸"
	case api.StateFailed:
		return "✖"
	case api.StateSkipped:
		return "–"
	}
	return "·"
}

// failureOf is the rollback's own account of what went wrong, without the SDK's wrapping.
func failureOf(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Message() != "" {
		return appErr.Message()
	}
	return err.Error()
}
