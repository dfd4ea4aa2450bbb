package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/algotrendy/rewind/checkpoint"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/workflows/api"
)

// StatusView is what `rewind status` prints.
type StatusView struct {
	WorkflowID string
	RunID      string
	Status     string
	Started    time.Time
	Closed     time.Time `json:",omitzero"`
	Progress   api.Progress
	// Running are the steps in flight, with their last progress report and, when they are
	// being retried, why the last attempt failed.
	Running []RunningStep `json:",omitempty"`
	UI      string
}

// RunningStep is one activity in flight.
type RunningStep struct {
	Activity    string
	Attempt     int32
	Progress    string `json:",omitempty"`
	LastFailure string `json:",omitempty"`
	// Done and Total are the bytes of a transfer that reports them (a restore), for a
	// progress bar.
	Done  int64 `json:",omitempty"`
	Total int64 `json:",omitempty"`
}

// NewCmdStatus builds `rewind status ID`.
func NewCmdStatus(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "status ID|STACK",
		Short:   "Print a rollback's checklist once",
		Example: "  rewind status rewind-prod\n  rewind status prod --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := o.status(cmd, api.IDOf(args[0]))
			if err != nil {
				return err
			}
			if o.JSON {
				return o.printJSON(v)
			}
			printStatus(o.Out, v, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

func (o *Options) status(cmd *cobra.Command, id string) (StatusView, error) {
	c, err := o.Client()
	if err != nil {
		return StatusView{}, err
	}
	d, err := c.DescribeWorkflowExecution(cmd.Context(), id, "")
	if err != nil {
		return StatusView{}, notFound(id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	v := StatusView{
		WorkflowID: id,
		RunID:      info.GetExecution().GetRunId(),
		Status:     statusName(info.GetStatus()),
		Started:    info.GetStartTime().AsTime(),
		UI:         o.uiLink(id, info.GetExecution().GetRunId()),
	}
	if info.GetCloseTime() != nil {
		v.Closed = info.GetCloseTime().AsTime()
	}
	for _, a := range d.GetPendingActivities() {
		r := RunningStep{
			Activity:    a.GetActivityType().GetName(),
			Attempt:     a.GetAttempt(),
			LastFailure: a.GetLastFailure().GetMessage(),
		}
		r.Progress, r.Done, r.Total = heartbeatProgress(a.GetHeartbeatDetails())
		v.Running = append(v.Running, r)
	}
	resp, err := c.QueryWorkflow(cmd.Context(), id, v.RunID, api.ProgressQuery)
	if err == nil {
		err = resp.Get(&v.Progress)
	}
	if err != nil {
		v.Progress.Summary = d.GetExecutionConfig().GetUserMetadata().GetSummary().String()
		v.Progress.Phase = "unknown (no worker answered the progress query: " + err.Error() + ")"
	}
	return v, nil
}

// printStatus prints the checklist once, running steps timed against now.
func printStatus(w io.Writer, v StatusView, now time.Time) {
	for _, l := range statusLines(v, nil, now) {
		fmt.Fprintln(w, l)
	}
}

// statusLines is the checklist as lines: a header, one line per step with how long it
// took, the steps in flight (with a bar, and rate and time left when rates has them),
// decisions, the notice and the Web UI link.
func statusLines(v StatusView, rates map[string]rate, now time.Time) []string {
	lines := []string{fmt.Sprintf("%s  %s", v.WorkflowID, strings.ToUpper(v.Status))}
	if v.Progress.Summary != "" {
		lines = append(lines, v.Progress.Summary)
	}
	for i, s := range v.Progress.Steps {
		prefix := "├──"
		if i == len(v.Progress.Steps)-1 {
			prefix = "└──"
		}
		l := fmt.Sprintf("%s %s %s", prefix, icon(s.State), s.Name)
		if s.State != api.StateDone && s.State != api.StatePending {
			l += " (" + s.State + ")"
		}
		if took := stepTime(s, now); took != "" {
			l += " [" + took + "]"
		}
		if s.Detail != "" {
			l += ": " + s.Detail
		}
		lines = append(lines, l)
	}
	for _, r := range v.Running {
		l := "    ↻ " + r.Activity
		if r.Attempt > 1 {
			l += fmt.Sprintf(" (attempt %d)", r.Attempt)
		}
		if r.Total > 0 {
			l += " " + bar(r.Done, r.Total)
		}
		if r.Progress != "" {
			l += ": " + r.Progress
		}
		if rt, ok := rates[r.Activity]; ok && rt.perSecond > 0 {
			l += fmt.Sprintf(", %s/s", meter.MiB(int64(rt.perSecond)))
			if r.Total > r.Done {
				l += ", " + human(time.Duration(float64(r.Total-r.Done)/rt.perSecond*float64(time.Second))) + " left"
			}
		}
		if r.LastFailure != "" && r.Attempt > 1 {
			l += "; last attempt failed: " + r.LastFailure
		}
		lines = append(lines, l)
	}
	for _, d := range v.Progress.Decisions {
		verdict := "refused"
		switch {
		case d.Accepted:
			verdict = "accepted"
		case d.Approver == "":
			verdict = "note"
		}
		lines = append(lines, fmt.Sprintf("decision %s: %s — %s", d.At.Local().Format(time.TimeOnly), verdict, d.Reason))
	}
	if v.Progress.Notice != "" {
		lines = append(lines, "NOTICE: "+v.Progress.Notice)
	}
	return append(lines, "Web UI: "+v.UI)
}

// stepTime is how long a finished step took, or a running one has run so far (when now
// is given).
func stepTime(s api.Step, now time.Time) string {
	switch {
	case s.Started.IsZero():
		return ""
	case !s.Finished.IsZero():
		return human(s.Finished.Sub(s.Started))
	case !now.IsZero() && (s.State == api.StateRunning || s.State == api.StateWaiting):
		return human(now.Sub(s.Started))
	}
	return ""
}

// human writes a duration as people say it: 850ms, 12s, 4m05s, 1h02m.
func human(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// bar is a 20-cell progress bar with its percentage.
func bar(done, total int64) string {
	const width = 20
	filled := int(min(done, total) * width / total)
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("█", filled), strings.Repeat("░", width-filled), min(done, total)*100/total)
}

// heartbeatProgress reads a step's last heartbeat: a restore's checkpoint becomes
// "3.0 MiB of 12.1 MiB of the backup read" with its bytes for the bar, a transfer's
// text is shown as it is.
func heartbeatProgress(p *commonpb.Payloads) (text string, done, total int64) {
	if len(p.GetPayloads()) == 0 {
		return "", 0, 0
	}
	if converter.GetDefaultDataConverter().FromPayload(p.GetPayloads()[0], &text) == nil {
		return text, 0, 0
	}
	var restore checkpoint.Transfer
	if converter.GetDefaultDataConverter().FromPayload(p.GetPayloads()[0], &restore) == nil && restore.BackupSize > 0 {
		return fmt.Sprintf("%s of %s of the backup read", meter.MiB(restore.BackupRead), meter.MiB(restore.BackupSize)), restore.BackupRead, restore.BackupSize
	}
	if restore.Entries > 0 {
		return fmt.Sprintf("%d entries, %s copied", restore.Entries, meter.MiB(restore.Bytes)), 0, 0
	}
	return "", 0, 0
}

// severityOf reads a rollback's severity from its search attributes.
func severityOf(d *workflowservice.DescribeWorkflowExecutionResponse) string {
	var sev string
	if p, ok := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[api.SeverityKey.GetName()]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &sev)
	}
	return sev
}

// size writes a byte count in the unit that reads best: 812 B, 3.4 KiB, 560.3 MiB, 1.2 GiB.
func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return meter.MiB(n)
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}
