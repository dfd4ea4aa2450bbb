package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/workflows/api"
)

// drillFlags are what `rewind drill` is told.
type drillFlags struct {
	stack, requester string
	wait             bool
}

// NewCmdDrill builds `rewind drill --stack STACK`.
func NewCmdDrill(o *Options) *cobra.Command {
	var f drillFlags
	cmd := &cobra.Command{
		Use:   "drill --stack STACK [--wait]",
		Short: "Prove the newest backup restores: restore it into a throwaway database and check its data",
		Long: `Run a restore drill of the stack now, as the workflow rewind-<stack>-drill. The worker on
the stack's host restores the newest backup of each volume into a volume of the drill's
own, starts a copy of the stack's database container (same image and configuration) on
it, on a network of its own with no port published, runs the stack's data check
(checks.database_url, checks.data_query) against that copy, records "proven restorable at
T, in N s" (or why not) beside the backup, and removes everything it made.

A failed drill pages the stack's approvers and marks the backup: full rollbacks skip it,
saying so. When the newest proven backup is older than backups.max_age, the on-call is
paged. The worker keeps a Temporal Schedule per stack (rewind-<stack>-drill, every
drill.every, 24h unless set; negative turns it off), shown in the Web UI under Schedules.`,
		Example: `  rewind drill --stack prod --wait`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.drill(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stack, "stack", "", "stack to drill, as the worker's rewind.yaml names it under stacks: (required)")
	fl.StringVar(&f.requester, "as", "", "who asks, for the record (default: identity.name, then $USER)")
	fl.BoolVar(&f.wait, "wait", false, "wait for the drill and print what it proved; exit 1 if it failed")
	fl.BoolVar(&o.JSON, "json", false, "print the result as JSON")
	return cmd
}

func (o *Options) drill(cmd *cobra.Command, f drillFlags) error {
	if f.stack == "" {
		return badInputf("name the stack: --stack NAME")
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	if len(cfg.Stacks) > 0 {
		if _, err := cfg.Stack(f.stack); err != nil {
			return badInput{err}
		}
	}
	by := firstNonEmpty(f.requester, cfg.Identity.Name, os.Getenv("USER"))
	c, err := o.Client()
	if err != nil {
		return err
	}
	if err := o.workersPolling(cmd, c, cfg, f.stack); err != nil {
		return err
	}
	id := api.DrillWorkflowID(f.stack)
	opts := onlyOne(id, cfg.Temporal.TaskQueue)
	opts.StaticSummary = fmt.Sprintf("restore drill of %s by %s", f.stack, by)
	opts.TypedSearchAttributes = temporal.NewSearchAttributes(api.StackKey.ValueSet(f.stack), api.OptionKey.ValueSet(api.OptionDrill))
	run, err := c.ExecuteWorkflow(cmd.Context(), opts, api.DrillWorkflow, api.DrillRequest{Stack: f.stack, By: by})
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return badInputf("stack %s already has a drill running: %s (run %s); follow it with `rewind status %s`", f.stack, id, started.RunId, id)
		}
		return fmt.Errorf("start the drill of %s: %w", f.stack, err)
	}
	if !o.JSON {
		fmt.Fprintf(o.Out, "started restore drill of %s: workflow %s run %s\nWeb UI: %s\n", f.stack, id, run.GetRunID(), o.uiLink(id, run.GetRunID()))
	}
	if !f.wait {
		if o.JSON {
			return o.printJSON(map[string]string{"workflow_id": id, "run_id": run.GetRunID()})
		}
		return nil
	}
	var res api.DrillResult
	if err := run.Get(cmd.Context(), &res); err != nil {
		return fmt.Errorf("drill %s failed: %s", id, failureOf(err))
	}
	if o.JSON {
		return o.printJSON(res)
	}
	fmt.Fprintf(o.Out, "drill of %s: %s\n", strings.Join(res.Backups, ", "), res.Detail)
	if res.Stale != "" {
		fmt.Fprintf(o.Out, "stale (the on-call was paged): %s\n", res.Stale)
	}
	return nil
}
