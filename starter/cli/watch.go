package cli

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/workflows"
)

// NewCmdWatch builds `rewind watch ID`: the checklist redrawn as it moves.
func NewCmdWatch(o *Options) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "watch ID|STACK",
		Short: "Follow a rollback's checklist until it ends; exit 1 if it failed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := workflows.IDOf(args[0])
			var last []byte
			for {
				v, err := o.status(cmd, id)
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				printStatus(&Options{Out: &buf}, v)
				// Redraw only when something changed, so the scrollback stays readable.
				if !bytes.Equal(buf.Bytes(), last) {
					fmt.Fprintf(o.Out, "--- %s\n%s", time.Now().Format(time.TimeOnly), buf.Bytes())
					last = buf.Bytes()
				}
				if v.Status != "running" {
					if v.Status != "completed" {
						return fmt.Errorf("rollback %s ended %s: %s", id, v.Status, v.Progress.Notice)
					}
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "how often to look")
	return cmd
}

// NewCmdReport builds `rewind report ID`: the archived incident report.
func NewCmdReport(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "report ID|STACK",
		Short: "Print the incident report of a finished rollback (Markdown)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := workflows.IDOf(args[0])
			c, err := o.Client()
			if err != nil {
				return err
			}
			var res workflows.Result
			run := c.GetWorkflow(cmd.Context(), id, "")
			if err := getFinished(cmd, c, run, id, &res); err != nil {
				return err
			}
			if res.Report == "" {
				return badInputf("rollback %s wrote no report (only full, quick and git rollbacks do)", id)
			}
			fmt.Fprint(o.Out, res.Report)
			return nil
		},
	}
}

func getFinished(cmd *cobra.Command, c client.Client, run client.WorkflowRun, id string, res *workflows.Result) error {
	d, err := c.DescribeWorkflowExecution(cmd.Context(), id, "")
	if err != nil {
		return notFound(id, err)
	}
	if statusName(d.GetWorkflowExecutionInfo().GetStatus()) == "running" {
		return badInputf("rollback %s is still running; `rewind watch %s` follows it", id, id)
	}
	if err := run.Get(cmd.Context(), res); err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return notFound(id, err)
		}
		return fmt.Errorf("rollback %s failed, so it archived no report: %s", id, failure(err))
	}
	return nil
}
