package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
)

// checklist is the runbook's "Pre-Rollback Checklist": the state of the project, the
// reason and who asked when, and the three newest backups, all kept as evidence.
func (r *rollback) checklist(step string) error {
	var d *docker.Activities
	var e *evidence.Activities
	var b *backup.Activities
	r.track.start(step)
	var captured docker.CaptureResult
	if err := r.exec(step, d.CaptureState, docker.CaptureInput{Project: r.in.Target.Project, Prefix: r.evidence("checklist")}, &captured); err != nil {
		return r.stepFailed(step, err)
	}
	r.result.Evidence = append(r.result.Evidence, captured.Files...)
	var newest []backup.Object
	var lines []string
	if r.in.Target.Backups.Pattern != "" {
		// The list is evidence; a missing backup store is recorded, and only the full
		// rollback, which needs a backup, fails on it later.
		if err := r.exec(step, b.ListBackups, backup.ListInput{Location: r.in.Target.Backups.Location, Pattern: r.in.Target.Backups.Pattern, Limit: 3}, &newest); err != nil {
			lines = append(lines, "cannot list backups: "+message(err))
		}
	}
	for _, o := range newest {
		lines = append(lines, fmt.Sprintf("%s  %d bytes  %s", o.Name, o.Size, o.ModTime.UTC().Format(time.RFC3339)))
	}
	note := fmt.Sprintf("Issue: %s\nTime: %s\nRequested by: %s\nSeverity: %s\nOption: %s\n\nNewest backups in %s:\n%s\n",
		r.in.Reason, r.in.RequestedAt.UTC().Format(time.RFC3339), r.in.Requester, r.in.Severity, r.in.Option,
		r.in.Target.Backups.Location, strings.Join(lines, "\n"))
	var where string
	if err := r.exec(step, e.Note, evidence.NoteInput{Name: r.evidence("checklist/rollback_reason.txt"), Text: note}, &where); err != nil {
		return r.stepFailed(step, err)
	}
	r.result.Evidence = append(r.result.Evidence, where)
	r.track.finish(step, StateDone, fmt.Sprintf("%d containers captured, %d newest backups listed", len(captured.Containers), len(newest)))
	return nil
}

// archiveIncident writes the decision log and the incident report next to the evidence.
func (r *rollback) archiveIncident(step string, extra []string) error {
	var e *evidence.Activities
	r.track.start(step)
	decisions, _ := json.MarshalIndent(r.track.progress.Decisions, "", "  ")
	var where string
	if err := r.exec(step, e.Note, evidence.NoteInput{Name: r.evidence("decisions.json"), Text: string(decisions)}, &where); err != nil {
		return r.stepFailed(step, err)
	}
	r.result.Evidence = append(r.result.Evidence, where)
	// Ticked before the report is rendered, so its timeline shows the archive step; a
	// failed write below marks it failed again.
	r.track.finish(step, StateDone, "report written")
	report := r.report(extra)
	if err := r.exec(step, e.Note, evidence.NoteInput{Name: r.evidence("incident_report.md"), Text: report}, &where); err != nil {
		return r.stepFailed(step, err)
	}
	r.result.Evidence = append(r.result.Evidence, where)
	r.result.Report = report
	return nil
}

// report is the Markdown incident report: timeline, decisions, what was done, and the
// headings the humans fill in (runbook "Post-Incident Actions").
func (r *rollback) report(extra []string) string {
	var b strings.Builder
	p := r.track.progress
	fmt.Fprintf(&b, "# Incident: %s rollback of %s\n\n", r.in.Option, r.in.Stack)
	fmt.Fprintf(&b, "- Workflow: %s\n- Severity: %s\n- Requested by: %s at %s\n- Reason: %s\n\n",
		workflow.GetInfo(r.ctx).WorkflowExecution.ID, r.in.Severity, r.in.Requester, r.in.RequestedAt.UTC().Format(time.RFC3339), r.in.Reason)
	b.WriteString("## Timeline\n\n| started | finished | step | state | detail |\n|---|---|---|---|---|\n")
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", clock(s.Started), clock(s.Finished), s.Name, s.State, strings.ReplaceAll(s.Detail, "|", "\\|"))
	}
	b.WriteString("\n## Decisions\n\n")
	for _, d := range p.Decisions {
		verdict := "refused"
		if d.Accepted {
			verdict = "accepted"
		}
		who := d.Approver
		if who == "" {
			who, verdict = "Rewind", "note"
		}
		fmt.Fprintf(&b, "- %s %s — %s: %s\n", clock(d.At), who, verdict, d.Reason)
	}
	for _, x := range extra {
		b.WriteString("\n" + x + "\n")
	}
	b.WriteString("\n## Impact\n\n_To be written._\n\n## Root cause analysis\n\n_To be written._\n\n## Lessons learned\n\n_To be written._\n")
	return b.String()
}

func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05")
}
