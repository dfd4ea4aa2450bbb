package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

type decideFlags struct {
	signSource
	printStatement bool
}

// NewCmdDecide builds `rewind approve ID` (approve true) or `rewind reject ID`.
func NewCmdDecide(o *Options, approve bool) *cobra.Command {
	var d api.Decision
	var f decideFlags
	verb := "reject"
	if approve {
		verb = "approve"
	}
	cmd := &cobra.Command{
		Use:   verb + " ID|STACK",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a rollback waiting for approval",
		Long: `Send a decision to a rollback waiting at its approval gate and wait for its answer:
accepted, or refused with why (no authority, self-approval, a bad signature...).

The decision is signed with your SSH key (ssh-agent, --key or identity.key) over a
statement naming the rollback, its run, you, the decision, the backup a full rollback
restores and an expiry. To sign by hand: print the statement with --print-statement,
sign it with ssh-keygen -Y sign -n rewind -f KEY, and pass --statement and --signature.`,
		Example: fmt.Sprintf("  rewind %s rewind-prod --as bob --reason \"checked the backup\"\n  rewind %s prod --as bob --print-statement > st && ssh-keygen -Y sign -n rewind -f ~/.ssh/id_ed25519 st && rewind %s prod --as bob --statement st --signature st.sig", verb, verb, verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d.Approve = approve
			return o.decide(cmd, api.IDOf(args[0]), d, f)
		},
	}
	cmd.Flags().StringVar(&d.Approver, "as", "", "your name as the worker's policy lists it (default: identity.name, then $USER)")
	cmd.Flags().StringVar(&d.Reason, "reason", "", "why, for the decision log (required to reject)")
	cmd.Flags().StringVar(&f.keyFile, "key", "", "private SSH key file to sign with (default: identity.key, then ssh-agent)")
	cmd.Flags().StringVar(&f.statementFile, "statement", "", "a statement you signed by hand (see --print-statement)")
	cmd.Flags().StringVar(&f.signatureFile, "signature", "", "its signature, from `ssh-keygen -Y sign -n rewind -f KEY STATEMENT`")
	cmd.Flags().BoolVar(&f.printStatement, "print-statement", false, "print the statement to sign for this decision and exit")
	return cmd
}

func (o *Options) decide(cmd *cobra.Command, id string, d api.Decision, f decideFlags) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	d.Approver = firstNonEmpty(d.Approver, cfg.Identity.Name, os.Getenv("USER"))
	if !d.Approve && strings.TrimSpace(d.Reason) == "" {
		return badInputf("reject needs --reason: the incident record says why")
	}
	if len(cfg.Approvers) > 0 {
		if _, ok := cfg.Approver(d.Approver); !ok {
			return badInputf("%s is not an approver in rewind.yaml; pass --as NAME", d.Approver)
		}
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	desc, err := c.DescribeWorkflowExecution(cmd.Context(), id, "")
	if err != nil {
		return notFound(id, err)
	}
	runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	p, err := o.awaitGate(cmd, id, runID)
	if err != nil {
		return err
	}
	if p.Gate == nil {
		return badInputf("%s is not waiting for a decision (now: %s); `rewind status %s` shows where it is", id, p.Phase, id)
	}
	action := identity.ActionApprove
	if !d.Approve {
		action = identity.ActionReject
	}
	st := identity.Statement{WorkflowID: id, RunID: runID, Person: d.Approver, Action: action,
		Severity: severityOf(desc), Backup: api.BackupDigest(p.Gate.Backups), Expires: expiry(time.Now())}
	if f.printStatement {
		_, err := o.Out.Write(st.Text())
		return err
	}
	pr, err := o.prove(st, f.signSource, mustSign(cfg, d.Approver))
	if err != nil {
		return err
	}
	d.Statement, d.Signature = pr.statement, pr.signature
	h, err := c.UpdateWorkflow(cmd.Context(), client.UpdateWorkflowOptions{
		WorkflowID: id, RunID: runID, UpdateName: api.DecideUpdate, Args: []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return o.refused(id, err)
	}
	var rec api.DecisionRecord
	if err := h.Get(cmd.Context(), &rec); err != nil {
		return o.refused(id, err)
	}
	proof := ""
	if rec.Proof != "" {
		proof = " (proof: " + rec.Proof + ")"
	}
	fmt.Fprintf(o.Out, "%s accepted: %s%s\n", id, rec.Reason, proof)
	return nil
}

// refused turns the gate's refusal into bad input naming why; other errors say what failed.
func (o *Options) refused(id string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return notFound(id, err)
	}
	if msg := failureOf(err); msg != "" && !strings.Contains(msg, "context deadline") {
		return badInputf("%s refused the decision: %s", id, msg)
	}
	return fmt.Errorf("send decision to %s: %w", id, err)
}

// gateOpensWithin is how long a decision waits for a rollback that is still on its
// checklist to reach its gate: people get paged as it starts.
const gateOpensWithin = time.Minute

// awaitGate returns the rollback's progress once its gate is open, or as it is when it
// waits for nothing that soon.
func (o *Options) awaitGate(cmd *cobra.Command, id, runID string) (api.Progress, error) {
	deadline := time.Now().Add(gateOpensWithin)
	for {
		p, err := o.progress(cmd, id, runID)
		if err != nil {
			return p, fmt.Errorf("ask %s what it waits for: %w", id, err)
		}
		if p.Gate != nil || p.Outcome != "" || !p.BeforeGate() || time.Now().After(deadline) {
			return p, nil
		}
		select {
		case <-cmd.Context().Done():
			return p, cmd.Context().Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (o *Options) progress(cmd *cobra.Command, id, runID string) (api.Progress, error) {
	var p api.Progress
	resp, err := o.client.QueryWorkflow(cmd.Context(), id, runID, api.ProgressQuery)
	if err != nil {
		return p, err
	}
	return p, resp.Get(&p)
}
