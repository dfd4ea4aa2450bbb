package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// Steps every option shares, in the runbook's words.
const (
	stepChecklist = "Capture ps, logs, stats and the newest backups"
	stepStop      = "Stop the stack"
	stepUp        = "Start the stack"
	stepHealthy   = "Wait until healthy"
	stepVerify    = "Verify (health, data, logs, resources, endpoint)"
	stepArchive   = "Archive the incident"
)

// checklist is the runbook's "Pre-Rollback Checklist": the state of the project, the
// reason and who asked when, and the newest backups, all kept as evidence. Capturing is
// best effort: a service that logs nowhere must not hold the rollback up.
func (r *rollback) checklist() (string, error) {
	r.notify(notify.Event{Kind: notify.KindStarted})
	var d *docker.Activities
	var b *backup.Activities
	var captured docker.CaptureResult
	missing := ""
	t := r.plan.Target
	in := docker.CaptureInput{Project: t.Project, Prefix: r.evidence("checklist"), Services: t.Services, Probes: r.probes()}
	if err := r.exec(quick, d.CaptureState, in, &captured); err != nil {
		missing = "; state not captured: " + message(err)
	}
	r.found = captured.Health
	r.result.Evidence = append(r.result.Evidence, captured.Files...)
	var newest []backup.Listed
	var lines []string
	if len(t.Volumes) > 0 {
		if err := r.exec(quick, b.ListBackups, backup.ListInput{Location: t.Backups.Location(), Pattern: t.Volumes[0].Pattern, Limit: 3}, &newest); err != nil {
			lines = append(lines, "cannot list backups: "+message(err))
		}
	}
	for _, o := range newest {
		lines = append(lines, fmt.Sprintf("%s  %d bytes  %s", o.Name, o.Size, o.ModTime.UTC().Format(time.RFC3339)))
	}
	note := fmt.Sprintf("Issue: %s\nTime: %s\nRequested by: %s\nSeverity: %s\nOption: %s\n\nNewest backups in %s:\n%s\n",
		r.req.Reason, r.req.RequestedAt.UTC().Format(time.RFC3339), r.req.Requester, r.req.Severity, r.req.Option,
		t.Backups.Location(), strings.Join(lines, "\n"))
	if err := r.note("checklist/rollback_reason.txt", note); err != nil {
		return "", err
	}
	found := ""
	if captured.Health != "" {
		found = ", found " + captured.Health
	}
	return fmt.Sprintf("%d containers captured%s, %d newest backups listed%s", len(captured.Containers), found, len(newest), missing), nil
}

// note writes a text file into this run's evidence.
func (r *rollback) note(name, text string) error {
	var e *evidence.Activities
	var where string
	if err := r.exec(quick, e.Note, evidence.NoteInput{Name: r.evidence(name), Text: text}, &where); err != nil {
		return err
	}
	r.result.Evidence = append(r.result.Evidence, where)
	return nil
}

// stopStack stops every container of the project; from here on a failure starts it again.
func (r *rollback) stopStack() (string, error) {
	stopped, err := r.stopProject(r.ctx)
	if err != nil {
		return "", err
	}
	r.stopped = append(stopped.Stopped, stopped.Killed...)
	r.changed("the stack started again", func(ctx workflow.Context) error {
		if err := r.composeUp(ctx); err != nil {
			return err
		}
		r.startedAgain = true
		return nil
	})
	return fmt.Sprintf("%d stopped, %d killed", len(stopped.Stopped), len(stopped.Killed)), nil
}

// versionRunningState: starting the stack records how to stop it, so a put-back stops a
// server before its volumes go back under it, and the put-back waits on the stack it
// starts again. Runs that began before replay without either.
const versionRunningState = "put-back-restores-running-state"

func (r *rollback) restoresRunningState(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, versionRunningState, workflow.DefaultVersion, 1) >= 1
}

// stopProject stops every container of the project, killing what outlives the grace period.
func (r *rollback) stopProject(ctx workflow.Context) (docker.StopResult, error) {
	var d *docker.Activities
	var stopped docker.StopResult
	err := r.execIn(ctx, stopping, d.StopProject, docker.StopInput{Project: r.plan.Target.Project, Grace: r.plan.Target.StopGracePeriod}, &stopped)
	return stopped, err
}

// stopStarted stops the project again: the undo of a start, before anything is put back.
func (r *rollback) stopStarted(ctx workflow.Context) error {
	_, err := r.stopProject(ctx)
	return err
}

func (r *rollback) composeUp(ctx workflow.Context) error {
	var d *docker.Activities
	var up docker.ComposeUpResult
	return r.execIn(ctx, quick, d.ComposeUp, r.composeInput(), &up)
}

// composeInput is how the stack's project is brought up.
func (r *rollback) composeInput() docker.ComposeUpInput {
	t := r.plan.Target
	return docker.ComposeUpInput{Project: t.Project, Files: t.ComposeFiles, WorkingDir: t.WorkingDir, Command: r.plan.Compose}
}

// startStack is the runbook's `docker-compose up -d`. Its undo, recorded before compose
// starts anything (compose may start some containers and fail on the next), stops the
// project: a put-back never moves data under a running server.
func (r *rollback) startStack() (string, error) {
	if r.restoresRunningState(r.ctx) {
		r.changed("what it started stopped", r.stopStarted)
	}
	return "compose up -d", r.composeUp(r.ctx)
}

// waitHealthy waits until every service runs healthy and the health endpoint answers: the
// runbook's `sleep 30`, but only as long as it takes.
func (r *rollback) waitHealthy() (string, error) {
	healthy, err := r.awaitHealthy(r.ctx, r.plan.Target.Checks.HealthTimeout)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s after %s", healthy.Summary(), healthy.Waited), nil
}

// awaitHealthy waits, up to within, until the stack runs healthy and its health endpoint
// answers; a put-back waits on the stack it started again the same way.
func (r *rollback) awaitHealthy(ctx workflow.Context, within time.Duration) (docker.WaitHealthyResult, error) {
	var d *docker.Activities
	t := r.plan.Target
	var healthy docker.WaitHealthyResult
	err := r.execIn(ctx, waiting, d.WaitHealthy, docker.WaitHealthyInput{Project: t.Project, Services: t.Services, Probes: r.probes(), Timeout: within}, &healthy)
	return healthy, err
}

// probes are the stack's health endpoints.
func (r *rollback) probes() []string {
	if u := r.plan.Target.Checks.HealthURL; u != "" {
		return []string{u}
	}
	return nil
}

// glance is how long a put-back waits on a stack that was not healthy when found: long
// enough for containers that were merely starting, not the health timeout of a stack that
// was broken before the rollback began.
const glance = 15 * time.Second

// verify runs the post-rollback verification as a child workflow and fails the rollback
// naming each check that failed.
func (r *rollback) verify() (string, error) { return r.verifyStack(nil) }

// verifyStack is verify, comparing the restored data with the backups' fingerprints.
func (r *rollback) verifyStack(fingerprints map[string]string) (string, error) {
	ctx := workflow.WithChildOptions(r.ctx, workflow.ChildWorkflowOptions{
		WorkflowID:    api.VerifyWorkflowID(workflow.GetInfo(r.ctx).WorkflowExecution.ID),
		StaticSummary: "verification of " + r.req.Stack,
	})
	var report VerifyReport
	in := VerifyRequest{Stack: r.req.Stack, Project: r.plan.Target.Project, HostQueue: r.plan.HostQueue, Checks: r.plan.Target.Checks, Fingerprints: fingerprints}
	if err := workflow.ExecuteChildWorkflow(ctx, Verify, in).Get(ctx, &report); err != nil {
		return "", err
	}
	r.sections = append(r.sections, verificationSection(report))
	if !report.Passed {
		return "", temporal.NewNonRetryableApplicationError("verification failed: "+strings.Join(report.Failed(), "; "), failure.VerificationFailed, nil, report)
	}
	return fmt.Sprintf("%d checks passed", len(report.Checks)), nil
}

// archive writes the decision log and the incident report into this run's evidence.
func (r *rollback) archive() (string, error) { return r.archiveWith() }

// archiveWith is archive with more sections of the report before the rollback's own.
func (r *rollback) archiveWith(sections ...string) (string, error) {
	decisions, _ := json.MarshalIndent(r.track.progress.Decisions, "", "  ")
	if err := r.note("decisions.json", string(decisions)); err != nil {
		return "", err
	}
	report := r.report(append(sections, r.sections...)...)
	if err := r.note("incident_report.md", report); err != nil {
		return "", err
	}
	r.result.Report = report
	return "report and decisions in " + r.prefix, nil
}

// notify tells people; a notice that cannot be delivered is recorded and never fails the
// rollback. Any worker sends it (it runs on the rollback's own task queue), so people hear
// of a rollback whose host has no worker.
func (r *rollback) notify(ev notify.Event) notify.Result { return r.notifyIn(r.ctx, ev) }

func (r *rollback) notifyIn(ctx workflow.Context, ev notify.Event) notify.Result {
	var n *notify.Activities
	info := workflow.GetInfo(r.ctx).WorkflowExecution
	ev.RunKey, ev.WorkflowID = info.ID+"/"+info.RunID, info.ID
	ev.Stack, ev.Option, ev.Severity, ev.Requester, ev.Reason = r.subject, r.req.Option, r.req.Severity, r.req.Requester, r.req.Reason
	ev.ApproverRole = r.plan.Policy.Rule.Role
	ev.SlackMessage = r.slack
	ctx = anyWorker(ctx, "Notify "+string(ev.Kind)+" — "+r.subject, 2*time.Minute)
	var res notify.Result
	if err := workflow.ExecuteActivity(ctx, n.Notify, ev).Get(ctx, &res); err != nil {
		res.Failed = append(res.Failed, "notify: "+message(err))
	}
	if res.SlackMessage.TS != "" {
		r.slack = res.SlackMessage
	}
	if len(res.Failed) > 0 {
		r.record(api.DecisionRecord{Reason: fmt.Sprintf("%s notification not delivered to %s", ev.Kind, strings.Join(res.Failed, "; "))})
	}
	return res
}

// report is the Markdown incident report: timeline, decisions, what was done, and the
// headings people fill in (runbook "Post-Incident Actions").
func (r *rollback) report(sections ...string) string {
	var b strings.Builder
	p := r.track.progress
	info := workflow.GetInfo(r.ctx).WorkflowExecution
	fmt.Fprintf(&b, "# Incident: %s rollback of %s\n\n", mdText(r.req.Option), mdText(r.req.Stack))
	// Names, reasons and details may hold caller-written text: each is escaped (mdText).
	fmt.Fprintf(&b, "- Workflow: %s (run %s)\n- Severity: %s\n- Requested by: %s at %s\n- Reason: %s\n- Evidence: %s\n\n",
		info.ID, info.RunID, mdText(r.req.Severity), mdText(r.req.Requester), r.req.RequestedAt.UTC().Format(time.RFC3339), mdText(r.req.Reason), r.prefix)
	b.WriteString("## Timeline\n\n| started | finished | step | state | detail |\n|---|---|---|---|---|\n")
	for _, s := range p.Steps {
		state := s.State
		if s.Name == stepArchive && state == api.StateRunning {
			state = "done with this report"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", clock(s.Started), clock(s.Finished), mdText(s.Name), state, mdText(s.Detail))
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
		proof := ""
		if d.Proof != "" {
			proof = " (proof: " + mdText(d.Proof) + ")"
		}
		fmt.Fprintf(&b, "- %s %s — %s: %s%s\n", clock(d.At), mdText(who), verdict, mdText(d.Reason), proof)
	}
	for _, s := range sections {
		if s != "" {
			b.WriteString("\n" + s + "\n")
		}
	}
	b.WriteString("\n## Impact\n\n_To be written._\n\n## Root cause analysis\n\n_To be written._\n\n## Lessons learned\n\n_To be written._\n")
	return b.String()
}

func verificationSection(v VerifyReport) string {
	var b strings.Builder
	b.WriteString("## Verification\n\n| check | result | evidence |\n|---|---|---|\n")
	for _, c := range v.Checks {
		verdict := "pass"
		if !c.Passed {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Name, verdict, strings.ReplaceAll(c.Evidence, "|", "\\|"))
	}
	return b.String()
}

func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05")
}
