package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/workflows/api"
)

// NewCmdCancel builds `rewind cancel ID`.
func NewCmdCancel(o *Options) *cobra.Command {
	return o.onRollback("cancel ID|STACK", "Ask a running rollback to stop after its current step", func(cmd *cobra.Command, c client.Client, id string) error {
		if err := c.CancelWorkflow(cmd.Context(), id, ""); err != nil {
			return notFound(id, err)
		}
		fmt.Fprintf(o.Out, "asked %s to cancel; follow it with `rewind status %s`\n", id, id)
		return nil
	})
}

// onRollback builds a command that acts through Temporal on the one rollback its
// argument names (a workflow ID or a stack).
func (o *Options) onRollback(use, short string, run func(cmd *cobra.Command, c client.Client, id string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.Client()
			if err != nil {
				return err
			}
			return run(cmd, c, api.IDOf(args[0]))
		},
	}
}

// notFound turns "no such workflow" into bad input that names the ID.
func notFound(id string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return badInputf("no rollback %s; `rewind list` shows the recent ones", id)
	}
	return fmt.Errorf("reach rollback %s: %w", id, err)
}
