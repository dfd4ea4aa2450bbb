package cli

import (
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
	"github.com/algotrendy/rewind/workflows"
)

type startFlags struct {
	stack, severity, reason, requester, to string
	wait, reset                            bool
}

// NewCmdStart builds `rewind start OPTION`.
func NewCmdStart(o *Options) *cobra.Command {
	var f startFlags
	cmd := &cobra.Command{
		Use:   "start quick|full|git|emergency --stack STACK --severity P1|P2|P3 --reason TEXT",
		Short: "Start a rollback of a stack",
		Long: `Start a rollback of a stack as the workflow rewind-<stack>.

Only one rollback of a stack runs at a time: a second start is refused and names the
running one. P1 proceeds at once; P2 and P3 wait for an approver (rewind approve).`,
		Example: `  rewind start emergency --stack prod --severity P1 --reason "memory leak takes the host down"
  rewind start full --stack prod --severity P2 --reason "market_data corrupted" --wait
  rewind start quick --stack prod --severity P1 --reason "API 500s after deploy" --to v2.5
  rewind start git --stack prod --severity P3 --reason "bug in v2.6" --to HEAD~1 --reset`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{workflows.OptionQuick, workflows.OptionFull, workflows.OptionGit, workflows.OptionEmergency},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.start(cmd, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.stack, "stack", "", "stack to roll back, as named under stacks: in rewind.yaml (required)")
	cmd.Flags().StringVar(&f.severity, "severity", "", "P1 critical, P2 major or P3 minor (required)")
	cmd.Flags().StringVar(&f.reason, "reason", "", "what is wrong, for the incident record (required)")
	cmd.Flags().StringVar(&f.requester, "as", "", "who asks for the rollback (default: $USER)")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait for the rollback to finish and exit 1 if it failed")
	cmd.Flags().StringVar(&f.to, "to", "", "quick and git: version to go back to: a tag, a commit, HEAD~1 (default: the tag before the deployed one)")
	cmd.Flags().BoolVar(&f.reset, "reset", false, "git: move the branch too (git reset --hard) instead of checking out a detached HEAD")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON")
	return cmd
}

func (o *Options) start(cmd *cobra.Command, option string, f startFlags) error {
	valid := []string{workflows.OptionQuick, workflows.OptionFull, workflows.OptionGit, workflows.OptionEmergency}
	if !slices.Contains(valid, option) {
		return badInputf("unknown option %q; use one of %s", option, strings.Join(valid, ", "))
	}
	var missing []string
	for name, v := range map[string]string{"--stack": f.stack, "--severity": f.severity, "--reason": f.reason} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return badInputf("missing %s; see `rewind start --help`", strings.Join(missing, ", "))
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	stack, err := cfg.Stack(f.stack)
	if err != nil {
		return badInput{err}
	}
	severity := strings.ToUpper(f.severity)
	if _, err := cfg.Rule(severity); err != nil {
		return badInput{err}
	}
	name, ok := workflows.WorkflowName(option)
	if !ok {
		return badInputf("option %q has no workflow", option)
	}
	requester := f.requester
	if requester == "" {
		requester = os.Getenv("USER")
	}
	rule, _ := cfg.Rule(severity)
	policy := workflows.Policy{
		Rule:       workflows.Rule{Role: rule.Role, DecisionTime: rule.DecisionTime, HardDeadline: rule.HardDeadline},
		Escalation: cfg.Severity.Escalation,
	}
	for _, a := range cfg.Approvers {
		policy.Approvers = append(policy.Approvers, workflows.Approver{Name: a.Name, Role: a.Role, PublicKey: a.PublicKey})
	}
	host := stack.Host
	if host == "" {
		host = cfg.Worker.Host
	}
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return fmt.Errorf("read hostname (set stacks.%s.host): %w", f.stack, err)
		}
	}
	req := workflows.Request{
		Stack: f.stack, Option: option, Severity: severity, Reason: f.reason, Requester: requester,
		RequestedAt: time.Now().UTC(),
		Target: workflows.Target{
			Project: stack.Project, ComposeFiles: stack.ComposeFiles, WorkingDir: stack.WorkingDir,
			Services: stack.Services, Volumes: stack.Volumes, StopGrace: stack.StopGracePeriod,
			ComposeCommand: cfg.Compose.Command,
			Backups: workflows.Backups{
				Location: stack.Backups.Location(), Pattern: stack.Backups.Pattern, RequireChecksum: stack.Backups.RequireChecksum,
			},
			Checks: workflows.Checks{
				HealthURL: stack.Checks.HealthURL, HealthExpect: stack.Checks.HealthExpect, DatabaseURL: stack.Checks.DatabaseURL,
				DataQuery: stack.Checks.DataQuery, LogsMustHave: stack.Checks.LogsMustHave, LogsMustLack: stack.Checks.LogsMustLack,
				FunctionalURL: stack.Checks.FunctionalURL, HealthTimeout: stack.Checks.HealthTimeout,
			},
		},
		HostQueue: workflows.HostTaskQueue(cfg.Temporal.TaskQueue, host),
		Policy:    policy,
		Ref:       f.to,
		Reset:     f.reset,
	}
	req.Target.Image = stack.Image
	req.Target.Build = workflows.Build{Dockerfile: stack.Build.Dockerfile, Image: stack.Build.Image}
	if option == workflows.OptionGit && req.Target.Build.Image == "" {
		return badInputf("a git rollback rebuilds the image: set stacks.%s.build.image (and build.dockerfile) in rewind.yaml", f.stack)
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	id := workflows.WorkflowID(f.stack)
	run, err := c.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                cfg.Temporal.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK hands back the running rollback as if it were ours.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:                            fmt.Sprintf("%s rollback of %s, %s, by %s", option, f.stack, severity, requester),
		StaticDetails:                            staticDetails(req, stack),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.StackKey.ValueSet(f.stack),
			workflows.OptionKey.ValueSet(option),
			workflows.SeverityKey.ValueSet(severity),
			workflows.PhaseKey.ValueSet("starting"),
		),
	}, name, req)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return badInputf("stack %s already has a rollback running: %s (run %s)%s; follow it with `rewind status %s` or stop it with `rewind cancel %s`",
				f.stack, id, started.RunId, o.describeRunning(cmd, id), id, id)
		}
		return fmt.Errorf("start %s rollback of %s: %w", option, f.stack, err)
	}
	if !o.JSON {
		fmt.Fprintf(o.Out, "started %s rollback of %s: workflow %s run %s\nWeb UI: %s\n", option, f.stack, id, run.GetRunID(), o.uiLink(id, run.GetRunID()))
	}
	if !f.wait {
		if o.JSON {
			return o.printJSON(map[string]string{"workflow_id": id, "run_id": run.GetRunID(), "ui": o.uiLink(id, run.GetRunID())})
		}
		return nil
	}
	var result workflows.Result
	if err := run.Get(cmd.Context(), &result); err != nil {
		if o.JSON {
			_ = o.printJSON(map[string]string{"workflow_id": id, "run_id": run.GetRunID(), "outcome": "failed", "error": err.Error()})
		}
		return fmt.Errorf("rollback %s failed: %s", id, failure(err))
	}
	if o.JSON {
		return o.printJSON(result)
	}
	printResult(o, result)
	return nil
}

func (o *Options) describeRunning(cmd *cobra.Command, id string) string {
	d, err := o.client.DescribeWorkflowExecution(cmd.Context(), id, "")
	if err != nil {
		return ""
	}
	info := d.GetWorkflowExecutionInfo()
	return fmt.Sprintf(", a %s started %s", info.GetType().GetName(), info.GetStartTime().AsTime().Local().Format(time.RFC3339))
}

func staticDetails(req workflows.Request, stack config.Stack) string {
	return fmt.Sprintf("**Reason:** %s\n\n**Requested by:** %s at %s\n\n**Compose project:** %s (%s) in %s\n\n**Docker host queue:** %s",
		req.Reason, req.Requester, req.RequestedAt.Format(time.RFC3339), stack.Project,
		strings.Join(stack.ComposeFiles, ", "), stack.WorkingDir, req.HostQueue)
}

func printResult(o *Options, r workflows.Result) {
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
	case workflows.StateDone:
		return "✔"
	case workflows.StateRunning:
		return "◌"
	case workflows.StateWaiting:
		return "⏸"
	case workflows.StateFailed:
		return "✖"
	case workflows.StateSkipped:
		return "–"
	}
	return "·"
}

// failure is the rollback's own account of what went wrong, without the SDK's wrapping.
func failure(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Message() != "" {
		return appErr.Message()
	}
	return err.Error()
}
