package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/workflows/api"
)

// NewCmdReport builds `rewind report ID`: the archived incident report.
func NewCmdReport(o *Options) *cobra.Command {
	return o.onRollback("report ID|STACK", "Print the incident report of a finished rollback (Markdown)", func(cmd *cobra.Command, c client.Client, id string) error {
		res, err := finished(cmd, c, id)
		if err != nil {
			return err
		}
		return printReport(o.Out, id, res)
	})
}

// finished is how a rollback ended; one still running, or one that failed, has no report.
func finished(cmd *cobra.Command, c client.Client, id string) (api.Result, error) {
	var res api.Result
	d, err := c.DescribeWorkflowExecution(cmd.Context(), id, "")
	if err != nil {
		return res, notFound(id, err)
	}
	if statusName(d.GetWorkflowExecutionInfo().GetStatus()) == "running" {
		return res, badInputf("rollback %s is still running; `rewind watch %s` follows it", id, id)
	}
	if err := c.GetWorkflow(cmd.Context(), id, "").Get(cmd.Context(), &res); err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return res, notFound(id, err)
		}
		return res, fmt.Errorf("rollback %s failed, so it archived no report: %s", id, failureOf(err))
	}
	return res, nil
}

// printReport prints the incident report as the rollback archived it.
func printReport(w io.Writer, id string, res api.Result) error {
	if res.Report == "" {
		return badInputf("rollback %s wrote no report (only full, quick and git rollbacks do)", id)
	}
	fmt.Fprint(w, res.Report)
	return nil
}
