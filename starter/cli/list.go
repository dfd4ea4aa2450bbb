package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/algotrendy/rewind/workflows/api"
)

// ListItem is one line of `rewind list`.
type ListItem struct {
	WorkflowID string
	RunID      string
	Stack      string
	Option     string
	Severity   string
	Phase      string
	Status     string
	Started    time.Time
}

// NewCmdList builds `rewind list`.
func NewCmdList(o *Options) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recent rollbacks, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := o.list(cmd, limit)
			if err != nil {
				return err
			}
			if o.JSON {
				return o.printJSON(items)
			}
			return printList(o.Out, items)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many rollbacks to show")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

func (o *Options) list(cmd *cobra.Command, limit int) ([]ListItem, error) {
	if limit <= 0 {
		return nil, badInputf("--limit %d: want a number above 0", limit)
	}
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	items := []ListItem{}
	var token []byte
	for len(items) < limit {
		resp, err := c.ListWorkflow(cmd.Context(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace:     o.cfg.Temporal.Namespace,
			PageSize:      int32(limit),
			NextPageToken: token,
			// Rollbacks only: their verification children carry no stack.
			Query: api.StackKey.GetName() + " IS NOT NULL",
		})
		if err != nil {
			return nil, fmt.Errorf("list rollbacks: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			if len(items) >= limit {
				continue
			}
			it := ListItem{
				WorkflowID: e.GetExecution().GetWorkflowId(),
				RunID:      e.GetExecution().GetRunId(),
				Status:     statusName(e.GetStatus()),
				Started:    e.GetStartTime().AsTime(),
			}
			for key, dst := range map[string]*string{api.StackKey.GetName(): &it.Stack, api.OptionKey.GetName(): &it.Option, api.SeverityKey.GetName(): &it.Severity, api.PhaseKey.GetName(): &it.Phase} {
				if p, ok := e.GetSearchAttributes().GetIndexedFields()[key]; ok {
					_ = converter.GetDefaultDataConverter().FromPayload(p, dst)
				}
			}
			items = append(items, it)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return items, nil
}

// printList prints rollbacks as a table, start times in local time.
func printList(w io.Writer, items []ListItem) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW\tSTACK\tOPTION\tSEVERITY\tSTATUS\tPHASE\tSTARTED")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.WorkflowID, it.Stack, it.Option, it.Severity, it.Status, it.Phase, it.Started.Local().Format(time.DateTime))
	}
	return tw.Flush()
}
