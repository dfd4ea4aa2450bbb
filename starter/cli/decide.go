package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/algotrendy/rewind/workflows"
)

// NewCmdDecide builds `rewind approve ID` (approve true) or `rewind reject ID`.
func NewCmdDecide(o *Options, approve bool) *cobra.Command {
	var d workflows.Decision
	verb := "reject"
	if approve {
		verb = "approve"
	}
	cmd := &cobra.Command{
		Use:     verb + " ID|STACK",
		Short:   strings.ToUpper(verb[:1]) + verb[1:] + " a rollback waiting for approval",
		Example: fmt.Sprintf("  rewind %s rewind-prod --as bob --reason \"checked the backup\"", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := workflowID(args[0])
			d.Approve = approve
			if d.Approver == "" {
				d.Approver = os.Getenv("USER")
			}
			if !approve && strings.TrimSpace(d.Reason) == "" {
				return badInputf("reject needs --reason: the incident record says why")
			}
			cfg, err := o.Config()
			if err != nil {
				return err
			}
			if _, ok := cfg.Approver(d.Approver); !ok {
				return badInputf("%s is not an approver in rewind.yaml; add them under approvers: or pass --as NAME", d.Approver)
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			if err := c.SignalWorkflow(cmd.Context(), id, "", workflows.ApprovalSignal, d); err != nil {
				return notFound(id, err)
			}
			fmt.Fprintf(o.Out, "sent %s of %s as %s\n", verb, id, d.Approver)
			return nil
		},
	}
	cmd.Flags().StringVar(&d.Approver, "as", "", "approver's name as in rewind.yaml (default: $USER)")
	cmd.Flags().StringVar(&d.Reason, "reason", "", "why, for the decision log")
	return cmd
}
