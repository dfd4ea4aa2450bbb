package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// backupFlags are what `rewind backup` is told.
type backupFlags struct {
	stack, reason, requester, keyFile string
	wait                              bool
}

// NewCmdBackup builds `rewind backup --stack STACK`.
func NewCmdBackup(o *Options) *cobra.Command {
	var f backupFlags
	cmd := &cobra.Command{
		Use:   "backup --stack STACK [--wait]",
		Short: "Take a consistent backup of a stack's volumes while it serves",
		Long: `Take a backup of each of the stack's volumes as the workflow rewind-<stack>-backup (one at
a time per stack), in the runbook's own format: <pattern with the time>.tar.gz, like
questdb_backup_20261203_141500.tar.gz, holding <volume>/_data/... as
` + "`tar -czf backup.tar.gz -C /var/lib/docker/volumes <volume>`" + ` makes, with a sha256sum
sidecar, into the stack's backup store (folder or S3). Each is written under a temporary
name until whole and read back, then renamed; the sidecar comes last.

The worker holds the database still for the copy, as the stack's backups.consistency says:
  checkpoint  the database's own CHECKPOINT CREATE ... CHECKPOINT RELEASE over its HTTP
              /exec (backups.database_url, else checks.database_url): it keeps taking
              writes, and the copy restores to what it had committed
  pause       docker pause of the containers that mount the volumes (the default)
  stop        the stack's running containers stopped for the copy, started after
The hold is released on every path, a worker crash mid-copy included; the result says
which mode and how long writes were held.

Anyone the policy names for P1 may take a backup; whoever has keys signs the start.`,
		Example: `  rewind backup --stack prod
  rewind backup --stack prod --wait --reason "before deploying v2.7"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.backup(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stack, "stack", "", "stack to back up, as the worker's rewind.yaml names it under stacks: (required)")
	fl.StringVar(&f.reason, "reason", "", "why, for the record (optional)")
	fl.StringVar(&f.requester, "as", "", "who asks for the backup (default: identity.name, then $USER)")
	fl.BoolVar(&f.wait, "wait", false, "wait for the backup and print where it went, its size, sha256, the mode and the hold time; exit 1 if it failed")
	fl.StringVar(&f.keyFile, "key", "", "private SSH key file to sign with (default: identity.key, then ssh-agent)")
	fl.BoolVar(&o.JSON, "json", false, "print the result as JSON")
	return cmd
}

func (o *Options) backup(cmd *cobra.Command, f backupFlags) error {
	res, run, err := o.takeBackup(cmd, f)
	if err != nil {
		return err
	}
	if !f.wait {
		if o.JSON {
			return o.printJSON(map[string]string{"workflow_id": run.GetID(), "run_id": run.GetRunID()})
		}
		return nil
	}
	if o.JSON {
		return o.printJSON(res)
	}
	printBackup(o, res)
	return nil
}

// takeBackup starts the stack's Backup workflow and, with f.wait, waits for its result.
func (o *Options) takeBackup(cmd *cobra.Command, f backupFlags) (api.BackupResult, client.WorkflowRun, error) {
	var res api.BackupResult
	if f.stack == "" {
		return res, nil, badInputf("name the stack: --stack NAME")
	}
	cfg, err := o.Config()
	if err != nil {
		return res, nil, err
	}
	if len(cfg.Stacks) > 0 {
		if _, err := cfg.Stack(f.stack); err != nil {
			return res, nil, badInput{err}
		}
	}
	requester := firstNonEmpty(f.requester, cfg.Identity.Name, os.Getenv("USER"))
	req := api.BackupRequest{Stack: f.stack, Reason: f.reason, Requester: requester, RequestedAt: time.Now().UTC(),
		Option: api.OptionBackup, Severity: api.BackupSeverity}
	id := api.BackupWorkflowID(f.stack)
	nonce, err := identity.NewNonce()
	if err != nil {
		return res, nil, err
	}
	p, err := o.prove(api.StartStatement(req.Request(), id, startExpiry(time.Now()), nonce), signSource{keyFile: f.keyFile}, mustSign(cfg, requester))
	if err != nil {
		return res, nil, err
	}
	req.Statement, req.Signature = p.statement, p.signature
	c, err := o.Client()
	if err != nil {
		return res, nil, err
	}
	if err := o.workersPolling(cmd, c, cfg, f.stack); err != nil {
		return res, nil, err
	}
	opts := onlyOne(id, cfg.Temporal.TaskQueue)
	opts.StaticSummary = fmt.Sprintf("backup of %s by %s", f.stack, requester)
	opts.TypedSearchAttributes = temporal.NewSearchAttributes(api.StackKey.ValueSet(f.stack), api.OptionKey.ValueSet(api.OptionBackup))
	run, err := c.ExecuteWorkflow(cmd.Context(), opts, api.BackupWorkflow, req)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return res, nil, badInputf("stack %s already has a backup running: %s (run %s); follow it with `rewind status %s`", f.stack, id, started.RunId, id)
		}
		return res, nil, fmt.Errorf("start backup of %s: %w", f.stack, err)
	}
	if !o.JSON {
		fmt.Fprintf(o.Out, "started backup of %s (%s): workflow %s run %s\nWeb UI: %s\n", f.stack, p.describe(), id, run.GetRunID(), o.uiLink(id, run.GetRunID()))
	}
	if !f.wait {
		return res, run, nil
	}
	if err := run.Get(cmd.Context(), &res); err != nil {
		return res, run, fmt.Errorf("backup %s failed: %s", id, failureOf(err))
	}
	return res, run, nil
}

// onlyOne starts a workflow under id unless one runs there: a second start is refused.
func onlyOne(id, queue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID: id, TaskQueue: queue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK hands back the running workflow as if it were ours.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
}

// printBackup says where each backup went and how the database was held.
func printBackup(o *Options, res api.BackupResult) {
	for _, b := range res.Backups {
		fmt.Fprintf(o.Out, "backup of volume %s: %s\n  size %d bytes, sha256 %s\n", b.Volume, b.Location, b.Bytes, b.SHA256)
	}
	held := "writes were held"
	if res.Mode == "checkpoint" {
		held = "the database stayed in checkpoint mode"
	}
	fmt.Fprintf(o.Out, "consistency: %s; %s for %s (%s)\n", res.Mode, held, res.Held.Round(time.Millisecond), res.Release)
	for _, p := range res.Retention {
		switch {
		case p.Error != "":
			fmt.Fprintf(o.Out, "retention of %s: %s\n", p.Volume, p.Error)
		case len(p.Removed) == 0:
			fmt.Fprintf(o.Out, "retention of %s: kept all %d of Rewind's backups\n", p.Volume, len(p.Kept))
		default:
			fmt.Fprintf(o.Out, "retention of %s: removed %s; kept %d\n", p.Volume, strings.Join(p.Removed, ", "), len(p.Kept))
		}
	}
}
