package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// drillSeverity is the policy a drill reads its approvers from: the on-call and above,
// who are paged when a backup fails its drill.
const drillSeverity = "P1"

// Drill is a restore drill: the newest backup of each of the stack's volumes restored
// into a volume of the drill's own, a throwaway copy of the stack's database started on
// them, the stack's data check run against it, the outcome recorded beside each backup
// and everything the drill made removed, on every path. A failed drill pages the stack's
// approvers; a newest proven backup older than backups.max_age pages the on-call.
func Drill(ctx workflow.Context, req api.DrillRequest) (res api.DrillResult, err error) {
	plan, err := drillPlan(ctx, req)
	if err != nil {
		return res, err
	}
	d := newDrillRun(ctx, plan, req)
	defer func() { res, err = d.res, d.removeAll(ctx, err) }()
	if err := d.restore(ctx); err != nil {
		return d.res, err
	}
	d.check(ctx)
	if err := d.record(ctx); err != nil {
		return d.res, err
	}
	d.page(ctx)
	return d.res, d.outcome()
}

// drillRun is one drill's state between its steps.
type drillRun struct {
	plan config.Plan
	req  api.DrillRequest
	// run is the drill's run key (workflow ID/run ID).
	run   string
	res   api.DrillResult
	began time.Time
	// listed are each volume's backups, newest first; staged the drill volumes restored.
	listed map[string][]backup.Listed
	staged []drill.Staged
	// why condemns the backups judged; hostErr says the drill could not run.
	why     string
	hostErr error
	// judged are the backups the outcome speaks of: the one that did not restore, or
	// every one the throwaway database was started on.
	judged []string
}

func newDrillRun(ctx workflow.Context, plan config.Plan, req api.DrillRequest) *drillRun {
	info := workflow.GetInfo(ctx).WorkflowExecution
	return &drillRun{
		plan: plan, req: req, run: info.ID + "/" + info.RunID,
		res:    api.DrillResult{Stack: req.Stack, At: workflow.Now(ctx).UTC()},
		listed: map[string][]backup.Listed{},
	}
}

// step is the options of one of the drill's steps on the stack's host.
func (d *drillRun) step(ctx workflow.Context, summary string, p pace) workflow.Context {
	return workflow.WithActivityOptions(ctx, heartbeating(d.plan, summary+" — "+d.req.Stack, p.limit(d.plan.Target), hostStepRetry()))
}

// removeAll removes what the drill made, on every path (a cancellation included).
func (d *drillRun) removeAll(ctx workflow.Context, err error) error {
	var a *drill.Activities
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var gone drill.Removed
	if rmErr := workflow.ExecuteActivity(d.step(dctx, "remove what the drill made", quick), a.RemoveDrill, drill.CleanupInput{Run: d.run, Project: d.plan.Target.Project}).Get(dctx, &gone); rmErr != nil && err == nil {
		return named("Remove what the drill made", rmErr)
	}
	return err
}

// restore fetches the newest backup of each volume and restores it into the drill's
// volume, until one does not restore or the host fails.
func (d *drillRun) restore(ctx workflow.Context) error {
	var a *drill.Activities
	var b *backup.Activities
	t := d.plan.Target
	info := workflow.GetInfo(ctx).WorkflowExecution
	d.began = workflow.Now(ctx)
	for _, v := range t.Volumes {
		var candidates []backup.Listed
		if err := workflow.ExecuteActivity(d.step(ctx, "list backups of "+v.Name, quick), b.ListBackups,
			backup.ListInput{Location: t.Backups.Location(), Pattern: v.Pattern, Checksums: true}).Get(ctx, &candidates); err != nil {
			return named("List backups of "+v.Name, err)
		}
		d.listed[v.Name] = candidates
		if len(candidates) == 0 {
			d.hostErr = temporal.NewNonRetryableApplicationError(fmt.Sprintf("no backup of %s matches %s in %s to drill", v.Name, v.Pattern, t.Backups.Location()), failure.NoGoodBackup, nil)
			return nil
		}
		newest := candidates[0]
		d.res.Backups = append(d.res.Backups, newest.Name)
		s := drill.Staged{For: v.Name, Staging: drill.Name(info.RunID, v.Name)}
		var local backup.Downloaded
		err := workflow.ExecuteActivity(d.step(ctx, "fetch "+newest.Name, moving), b.DownloadBackup,
			backup.DownloadInput{Location: t.Backups.Location(), Name: newest.Name, SHA256: newest.SHA256}).Get(ctx, &local)
		if err == nil {
			err = workflow.ExecuteActivity(d.step(ctx, "restore "+newest.Name+" for the drill", moving), a.RestoreForDrill, drill.RestoreInput{
				Staging: s.Staging, For: v.Name, Project: t.Project, Run: d.run, Name: newest.Name, Backup: local.Path,
				Layout: archive.LayoutName(v.Layout), SHA256: newest.SHA256, RequireChecksum: t.Backups.RequireChecksum,
			}).Get(ctx, nil)
		}
		if failure.CondemnsBackup(err) {
			d.why, d.judged = newest.Name+" does not restore: "+message(err), []string{newest.Name}
			return nil
		}
		if err != nil {
			d.hostErr = named("Restore "+newest.Name+" for the drill", err)
			return nil
		}
		d.staged = append(d.staged, s)
	}
	return nil
}

// check starts the throwaway database and checks its data, when every backup restored,
// and says what the drill found.
func (d *drillRun) check(ctx workflow.Context) {
	res := &d.res
	if d.why == "" && d.hostErr == nil {
		res.Detail, d.why, d.hostErr = checkThrowaway(ctx, d.step, d.plan, d.run, d.staged)
		d.judged = res.Backups
	}
	res.Seconds = workflow.Now(ctx).Sub(d.began).Seconds()
	res.OK = d.why == "" && d.hostErr == nil
	switch {
	case res.OK:
		res.Detail = fmt.Sprintf("proven restorable at %s, in %.1f s: %s", res.At.Format(time.RFC3339), res.Seconds, res.Detail)
	case d.why != "":
		res.Detail = d.why
	default:
		res.Detail = "the drill could not run: " + message(d.hostErr)
	}
}

// record asks the host to keep the verdict it saw for each judged backup. A drill that
// could not run says nothing of the backup: only a verdict is recorded.
func (d *drillRun) record(ctx workflow.Context) error {
	if d.why == "" && !d.res.OK {
		return nil
	}
	var a *drill.Activities
	for _, name := range d.judged {
		rec := backups.Drill{Name: name, At: d.res.At, OK: d.res.OK, Seconds: d.res.Seconds, Detail: d.res.Detail, By: d.run}
		if err := workflow.ExecuteActivity(d.step(ctx, "record the drill of "+name, quick), a.RecordDrill, drill.RecordInput{Stack: d.req.Stack, Drill: rec}).Get(ctx, nil); err != nil {
			return named("Record the drill of "+name, err)
		}
	}
	return nil
}

// page tells the approvers of a failed drill, and the on-call when no backup is proven
// within backups.max_age.
func (d *drillRun) page(ctx workflow.Context) {
	info := workflow.GetInfo(ctx).WorkflowExecution
	plan, res := d.plan, &d.res
	if !res.OK {
		page(ctx, plan, notify.Event{Kind: notify.KindFailed, Option: api.OptionDrill, RunKey: d.run, WorkflowID: info.ID, Stack: d.req.Stack,
			Backup: strings.Join(res.Backups, ", "), Outcome: "restore drill failed", Detail: res.Detail,
			ApproverRole: plan.Policy.Rule.Role, Approvers: approversOf(plan.Policy)})
	}
	res.Stale = staleness(ctx, d.step, plan, d.listed)
	if res.Stale != "" {
		page(ctx, plan, notify.Event{Kind: notify.KindFailed, Option: api.OptionDrill, RunKey: api.DrillWorkflowID(d.req.Stack) + "/stale", WorkflowID: info.ID, Stack: d.req.Stack,
			Outcome: "no proven backup within backups.max_age", Detail: res.Stale,
			ApproverRole: plan.Policy.Rule.Role, Approvers: approversOf(plan.Policy)})
	}
}

// outcome is the drill's error: the backup condemned, or the host's trouble.
func (d *drillRun) outcome() error {
	switch {
	case d.why != "":
		return temporal.NewNonRetryableApplicationError("the drill of "+strings.Join(d.res.Backups, ", ")+" failed: "+d.why, drill.Failed, nil)
	case d.hostErr != nil:
		return d.hostErr
	}
	return nil
}

// checkThrowaway starts the throwaway database on the staged volumes and runs the data
// check against it. It returns what the check found, why the backup failed, or an error
// of the host.
func checkThrowaway(ctx workflow.Context, step func(workflow.Context, string, pace) workflow.Context, plan config.Plan, run string, staged []drill.Staged) (string, string, error) {
	var d *drill.Activities
	t := plan.Target
	var db drill.Throwaway
	if err := workflow.ExecuteActivity(step(ctx, "start a throwaway database", quick), d.StartThrowaway,
		drill.DatabaseInput{Project: t.Project, Run: run, Volumes: staged, DatabaseURL: t.Checks.DatabaseURL}).Get(ctx, &db); err != nil {
		return "", "", named("Start a throwaway database", err)
	}
	var checked drill.Checked
	err := workflow.ExecuteActivity(step(ctx, "check the throwaway database's data", waiting), d.CheckThrowaway,
		drill.CheckInput{Run: run, DatabaseURL: t.Checks.DatabaseURL, Query: t.Checks.DataQuery, Timeout: t.Checks.HealthTimeout}).Get(ctx, &checked)
	if drill.IsFailed(err) {
		return "", message(err), nil
	}
	if err != nil {
		return "", "", named("Check the throwaway database's data", err)
	}
	return fmt.Sprintf("%s of %s started on the restored data; %s", db.Service, db.Image, checked.Evidence), "", nil
}

// versionDrillFreshnessByName: a drill judges freshness by the time in a backup's name
// (backups.Taken, as the CLI and retention do), counts only drills of the file as it is
// now, and says nothing of volumes it did not list.
const versionDrillFreshnessByName = "drill-freshness-by-name"

// staleness says how old each volume's newest proven backup is when that is older than
// backups.max_age (or none is proven), or "".
func staleness(ctx workflow.Context, step func(workflow.Context, string, pace) workflow.Context, plan config.Plan, listed map[string][]backup.Listed) string {
	t := plan.Target
	if t.Backups.MaxAge <= 0 {
		return ""
	}
	var d *drill.Activities
	var drills map[string]backups.Drill
	if err := workflow.ExecuteActivity(step(ctx, "read the drills", quick), d.Drills, drill.StackInput{Stack: plan.Stack}).Get(ctx, &drills); err != nil {
		return "the drills could not be read to judge freshness: " + message(err)
	}
	now := workflow.Now(ctx)
	byName := workflow.GetVersion(ctx, versionDrillFreshnessByName, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	var stale []string
	for _, v := range t.Volumes {
		candidates, ok := listed[v.Name]
		if !ok && byName {
			// Not listed: the drill stopped before it, which says nothing of its backups.
			continue
		}
		proven := ""
		var at time.Time
		for _, c := range candidates {
			if byName {
				if dr, ok := backups.LatestFor(drills, c.Name, c.SHA256); ok && dr.OK {
					proven, at = c.Name, backups.Taken(c.Object)
					break
				}
				continue
			}
			if dr, ok := drills[c.Name]; ok && dr.OK {
				proven, at = c.Name, c.ModTime
				break
			}
		}
		switch {
		case proven == "":
			stale = append(stale, fmt.Sprintf("%s: no backup is proven by a drill", v.Name))
		case now.Sub(at) > t.Backups.MaxAge:
			stale = append(stale, fmt.Sprintf("%s: the newest proven backup %s is %s old, older than backups.max_age %s", v.Name, proven, now.Sub(at).Round(time.Minute), t.Backups.MaxAge))
		}
	}
	return strings.Join(stale, "; ")
}

// page tells people through every configured backend (PagerDuty pages on failures).
func page(ctx workflow.Context, plan config.Plan, ev notify.Event) {
	var n *notify.Activities
	ctx = anyWorker(ctx, "page: "+ev.Outcome+" — "+plan.Stack, 2*time.Minute)
	var sent notify.Result
	if err := workflow.ExecuteActivity(ctx, n.Notify, ev).Get(ctx, &sent); err != nil {
		workflow.GetLogger(ctx).Warn("page not sent", "outcome", ev.Outcome, "error", message(err))
	}
}

// approversOf names everyone the policy lets approve at its severity or above.
func approversOf(p config.Policy) []string {
	var out []string
	for _, x := range p.People {
		if p.Rank(x.Role) >= p.Rank(p.Rule.Role) {
			out = append(out, x.Name)
		}
	}
	return out
}

// drillPlan resolves the stack as the worker's configuration names it and checks the
// run's ID: a drill of stack S runs only as rewind-S-drill (a Schedule's runs with the
// time appended).
func drillPlan(ctx workflow.Context, req api.DrillRequest) (config.Plan, error) {
	var plan config.Plan
	var p *policy.Activities
	actx := askWorker(ctx)
	if err := workflow.ExecuteLocalActivity(actx, p.Plan, policy.ResolveInput{Stack: req.Stack, Severity: drillSeverity}).Get(actx, &plan); err != nil {
		return plan, err
	}
	refuse := func(why string) error {
		return temporal.NewNonRetryableApplicationError(why+"; nothing was restored or started", failure.BadInput, nil)
	}
	if stack, ok := api.DrillStack(workflow.GetInfo(ctx).WorkflowExecution.ID); !ok || stack != req.Stack {
		return plan, refuse(fmt.Sprintf("a drill of stack %s runs as %s, not %s", req.Stack, api.DrillWorkflowID(req.Stack), workflow.GetInfo(ctx).WorkflowExecution.ID))
	}
	if len(plan.Target.Volumes) == 0 {
		return plan, refuse(fmt.Sprintf("stack %s names no volumes to drill", req.Stack))
	}
	if plan.Target.Checks.DatabaseURL == "" || plan.Target.Checks.DataQuery == "" {
		return plan, refuse(fmt.Sprintf("stack %s has no checks.database_url and checks.data_query to run against the restored database; set both", req.Stack))
	}
	return plan, nil
}
