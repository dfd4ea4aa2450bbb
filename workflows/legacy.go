package workflows

// Rollbacks started by releases before the worker owned the policy (2026-11) carry their
// stack's target and approval policy in the request and run the steps below, frozen as
// they were, so that a rollback in flight during an upgrade replays and finishes. New runs
// never take this path: it is chosen by a version marker only old histories lack. Delete
// this file once `rewind list` shows no run older than that release.

import (
	"cmp"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/algotrendy/rewind/failure"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// workerOwnsPolicy is the version at which a rollback's target and policy come from the
// worker's configuration instead of the request.
const workerOwnsPolicy = "worker-owns-policy"

// legacy reports whether this run was started before the worker owned the policy.
func legacy(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, workerOwnsPolicy, workflow.DefaultVersion, 1) == workflow.DefaultVersion
}

// legacyRequest is what earlier requests carried besides the operator's decisions.
type legacyRequest struct {
	Target    legacyTarget `json:",omitzero"`
	HostQueue string       `json:",omitempty"`
	Policy    legacyPolicy `json:",omitzero"`
}

// carried names the fields of earlier requests this one holds. A new run refuses them:
// who approves and what runs on the host are the worker's to say.
func (l legacyRequest) carried() []string {
	var names []string
	v := reflect.ValueOf(l)
	for i := range v.NumField() {
		if !v.Field(i).IsZero() {
			names = append(names, v.Type().Field(i).Name)
		}
	}
	return names
}

type legacyTarget struct {
	Project        string
	ComposeFiles   []string
	WorkingDir     string
	Services       []string
	Volumes        []string
	StopGrace      time.Duration
	ComposeCommand []string
	Backups        struct {
		Location        json.RawMessage
		Pattern         string
		RequireChecksum bool
	}
	Checks json.RawMessage
	Image  string
	Build  struct{ Dockerfile, Image string }
}

type legacyPolicy struct {
	Rule struct {
		Role         string
		DecisionTime time.Duration
		HardDeadline time.Duration
	}
	Approvers  []struct{ Name, Role, PublicKey string }
	Escalation []string
}

// legacyDecision is the approval signal of earlier releases.
type legacyDecision struct {
	Approver  string
	Approve   bool
	Reason    string
	Signature string
}

// v0 is one earlier-release rollback: its steps run as they did then.
type v0 struct {
	ctx    workflow.Context
	in     Request
	track  *tracker
	prefix string
	result Result
}

const (
	v0Checklist = "Capture ps, logs, stats and the newest backups"
	v0Approval  = "Approval"
	v0Stop      = "Stop the stack"
	v0Up        = "Start the stack"
	v0Healthy   = "Wait until healthy"
	v0Verify    = "Verify (health, data, logs, endpoint)"
	v0Archive   = "Archive the incident"
)

func newV0(ctx workflow.Context, in Request, steps ...string) (*v0, error) {
	if in.Stack == "" || in.Target.Project == "" || in.HostQueue == "" {
		return nil, temporal.NewNonRetryableApplicationError("request lacks stack, compose project or host task queue", failure.BadInput, nil)
	}
	summary := fmt.Sprintf("%s rollback of %s, %s, by %s: %s", in.Option, in.Stack, in.Severity, in.Requester, in.Reason)
	t, err := newTracker(ctx, summary, steps...)
	if err != nil {
		return nil, err
	}
	t.legacy = true
	day := workflow.Now(ctx).UTC().Format("20060102")
	return &v0{ctx: ctx, in: in, track: t, prefix: "incidents/" + day + "/" + workflow.GetInfo(ctx).WorkflowExecution.ID,
		result: Result{Stack: in.Stack, Option: in.Option}}, nil
}

func (r *v0) evidence(name string) string { return r.prefix + "/" + name }

func (r *v0) exec(ctx workflow.Context, summary string, activity string, input, result any) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: r.in.HostQueue, Summary: summary + " — " + r.in.Stack,
		StartToCloseTimeout: 4 * time.Hour, HeartbeatTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts: 10, NonRetryableErrorTypes: []string{failure.BadInput}},
	})
	return workflow.ExecuteActivity(ctx, activity, input).Get(ctx, result)
}

func (r *v0) run(step, activity string, input, result any, detail func() string) error {
	r.track.start(step)
	if err := r.exec(r.ctx, step, activity, input, result); err != nil {
		return r.stepFailed(step, err)
	}
	r.track.finish(step, StateDone, detail())
	return nil
}

func (r *v0) stepFailed(step string, err error) error {
	r.track.finish(step, StateFailed, err.Error())
	return err
}

func (r *v0) failed(err error) (Result, error) {
	r.track.end("failed", message(err))
	return Result{}, err
}

func (r *v0) completed(notice string) (Result, error) {
	r.track.end("completed", notice)
	r.result.Outcome, r.result.Notice, r.result.Steps = "completed", notice, r.track.progress.Steps
	return r.result, nil
}

func (r *v0) checklist() error {
	step := v0Checklist
	r.track.start(step)
	var captured struct{ Files []string }
	if err := r.exec(r.ctx, step, "CaptureState", map[string]string{"Project": r.in.Target.Project, "Prefix": r.evidence("checklist")}, &captured); err != nil {
		return r.stepFailed(step, err)
	}
	r.result.Evidence = append(r.result.Evidence, captured.Files...)
	if r.in.Target.Backups.Pattern != "" {
		var newest []json.RawMessage
		_ = r.exec(r.ctx, step, "ListBackups", map[string]any{"Location": r.in.Target.Backups.Location, "Pattern": r.in.Target.Backups.Pattern, "Limit": 3}, &newest)
	}
	var where string
	if err := r.exec(r.ctx, step, "Note", map[string]string{"Name": r.evidence("checklist/rollback_reason.txt"), "Text": r.in.Reason}, &where); err != nil {
		return r.stepFailed(step, err)
	}
	r.track.finish(step, StateDone, "captured")
	return nil
}

func (r *v0) approval() error {
	ctx, p, step := r.ctx, r.in.Policy, v0Approval
	info := workflow.GetInfo(ctx)
	ch := workflow.GetSignalChannel(ctx, ApprovalSignal)
	r.track.start(step)
	rank := func(role string) int { return slices.Index(p.Escalation, role) }
	find := func(name string) (string, string, bool) {
		for _, a := range p.Approvers {
			if a.Name == name {
				return a.Role, a.PublicKey, true
			}
		}
		return "", "", false
	}
	if p.Rule.DecisionTime == 0 {
		role, _, ok := find(r.in.Requester)
		if !ok || rank(role) < rank(p.Rule.Role) {
			reason := fmt.Sprintf("%s may not start a %s rollback: it needs %s or above", r.in.Requester, r.in.Severity, p.Rule.Role)
			r.record(DecisionRecord{Approver: r.in.Requester, Approve: true, Reason: reason})
			r.track.finish(step, StateFailed, reason)
			return temporal.NewNonRetryableApplicationError(reason+"; nothing was changed", failure.NotAuthorized, nil)
		}
		r.record(DecisionRecord{Approver: r.in.Requester, Approve: true, Accepted: true, Reason: r.in.Severity + " proceeds at once"})
		r.track.finish(step, StateDone, "")
		return nil
	}
	r.track.finish(step, StateWaiting, "")
	r.track.progress.Phase = "waiting for approval"
	r.track.publish()
	start := workflow.Now(ctx)
	hard := p.Rule.HardDeadline
	if hard < p.Rule.DecisionTime {
		hard = 4 * p.Rule.DecisionTime
	}
	escalated := false
	for {
		deadline := hard
		if !escalated {
			deadline = p.Rule.DecisionTime
		}
		timerCtx, cancel := workflow.WithCancel(ctx)
		timer := workflow.NewTimer(timerCtx, max(deadline-workflow.Now(ctx).Sub(start), time.Millisecond))
		var d legacyDecision
		var fired bool
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &d) })
		sel.AddFuture(timer, func(workflow.Future) { fired = true })
		sel.Select(ctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if fired && !escalated {
			escalated = true
			msg := "no decision within " + p.Rule.DecisionTime.String() + "; escalated"
			r.record(DecisionRecord{Reason: msg})
			var res json.RawMessage
			nctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: r.in.HostQueue, StartToCloseTimeout: time.Minute,
				RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
			_ = workflow.ExecuteActivity(nctx, "Send", map[string]string{"Subject": "Rewind: " + r.in.Severity + " rollback of " + r.in.Stack + " needs a decision", "Text": msg}).Get(nctx, &res)
			r.track.finish(step, StateWaiting, msg)
			continue
		}
		if fired {
			reason := fmt.Sprintf("no approval within the hard deadline of %s; nothing was changed", hard)
			r.track.finish(step, StateFailed, reason)
			return temporal.NewNonRetryableApplicationError(reason, failure.NoDecision, nil)
		}
		role, key, known := find(d.Approver)
		ok, why := true, fmt.Sprintf("%s by %s (%s)", map[bool]string{true: "approved", false: "rejected"}[d.Approve], d.Approver, role)
		switch {
		case !known:
			ok, why = false, d.Approver+" is not an approver of this rollback"
		case d.Approver == r.in.Requester:
			ok, why = false, d.Approver+" asked for this rollback and cannot approve it too"
		case rank(role) < rank(p.Rule.Role):
			ok, why = false, fmt.Sprintf("%s is %s; this severity needs %s or above", d.Approver, role, p.Rule.Role)
		case key != "":
			verb := map[bool]string{true: "approve", false: "reject"}[d.Approve]
			k, kerr := base64.StdEncoding.DecodeString(key)
			sig, serr := base64.StdEncoding.DecodeString(d.Signature)
			text := []byte(fmt.Sprintf("rewind:%s:%s:%s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, verb))
			if kerr != nil || len(k) != ed25519.PublicKeySize || serr != nil || !ed25519.Verify(ed25519.PublicKey(k), text, sig) {
				ok, why = false, d.Approver+"'s signature does not verify with their key"
			}
		}
		r.record(DecisionRecord{Approver: d.Approver, Approve: d.Approve, Accepted: ok, Reason: why})
		if !ok {
			continue
		}
		if !d.Approve {
			r.track.finish(step, StateFailed, why)
			return temporal.NewNonRetryableApplicationError(why+"; nothing was changed", failure.Rejected, nil)
		}
		r.track.finish(step, StateDone, why)
		return nil
	}
}

func (r *v0) record(d DecisionRecord) {
	d.At = workflow.Now(r.ctx)
	r.track.progress.Decisions = append(r.track.progress.Decisions, d)
	r.track.publish()
}

func (r *v0) composeUp(ctx workflow.Context, step string) error {
	t := r.in.Target
	var up json.RawMessage
	r.track.start(step)
	if err := r.exec(ctx, step, "ComposeUp", map[string]any{"Project": t.Project, "Files": t.ComposeFiles, "WorkingDir": t.WorkingDir, "Command": t.ComposeCommand}, &up); err != nil {
		return r.stepFailed(step, err)
	}
	r.track.finish(step, StateDone, "")
	return nil
}

func (r *v0) startAndVerify() error {
	t := r.in.Target
	if err := r.composeUp(r.ctx, v0Up); err != nil {
		return err
	}
	var probes []string
	var checks struct{ HealthURL string }
	_ = json.Unmarshal(t.Checks, &checks)
	if checks.HealthURL != "" {
		probes = append(probes, checks.HealthURL)
	}
	var healthy json.RawMessage
	if err := r.run(v0Healthy, "WaitHealthy", map[string]any{"Project": t.Project, "Services": t.Services, "Probes": probes}, &healthy, func() string { return "" }); err != nil {
		return err
	}
	r.track.start(v0Verify)
	ctx := workflow.WithChildOptions(r.ctx, workflow.ChildWorkflowOptions{WorkflowID: workflow.GetInfo(r.ctx).WorkflowExecution.ID + "-verify"})
	var report VerifyReport
	if err := workflow.ExecuteChildWorkflow(ctx, "Verify", map[string]any{"Stack": r.in.Stack, "Project": t.Project, "HostQueue": r.in.HostQueue, "Checks": t.Checks}).Get(ctx, &report); err != nil {
		return r.stepFailed(v0Verify, err)
	}
	if !report.Passed {
		return r.stepFailed(v0Verify, temporal.NewNonRetryableApplicationError("verification failed: "+strings.Join(report.Failed(), "; "), failure.VerificationFailed, nil))
	}
	r.track.finish(v0Verify, StateDone, "")
	return nil
}

func (r *v0) archive() error {
	r.track.start(v0Archive)
	var where string
	if err := r.exec(r.ctx, v0Archive, "Note", map[string]string{"Name": r.evidence("decisions.json")}, &where); err != nil {
		return r.stepFailed(v0Archive, err)
	}
	r.track.finish(v0Archive, StateDone, "report written")
	if err := r.exec(r.ctx, v0Archive, "Note", map[string]string{"Name": r.evidence("incident_report.md"), "Text": r.track.progress.Markdown()}, &where); err != nil {
		return r.stepFailed(v0Archive, err)
	}
	return nil
}

// fullV0 is the full rollback of earlier releases: stop, snapshot, remove, restore.
func fullV0(ctx workflow.Context, in Request) (res Result, err error) {
	checksFirst := workflow.GetVersion(ctx, "checks-before-changes", workflow.DefaultVersion, 1) == 1
	r, err := newV0(ctx, in, v0Checklist, v0Approval, v0Stop)
	if err != nil {
		return Result{}, err
	}
	if len(in.Target.Volumes) == 0 || in.Target.Backups.Pattern == "" {
		return r.failed(temporal.NewNonRetryableApplicationError("stack "+in.Stack+" has no volumes or backups configured", failure.BadInput, nil))
	}
	volume := in.Target.Volumes[0]
	var proof, good json.RawMessage
	var before json.RawMessage
	inspect := func(step string) error {
		if err := r.exec(r.ctx, step, "InspectVolume", map[string]string{"Volume": volume}, &before); err != nil {
			return r.stepFailed(step, err)
		}
		var v struct{ Exists bool }
		if _ = json.Unmarshal(before, &v); !v.Exists {
			return r.stepFailed(step, temporal.NewNonRetryableApplicationError("volume "+volume+" does not exist", "NoSuchVolume", nil))
		}
		return nil
	}
	var local struct{ Path string }
	pick := func() error {
		return r.run("Pick", "FindLatestGood", map[string]any{"Location": in.Target.Backups.Location, "Pattern": in.Target.Backups.Pattern,
			"RequireChecksum": in.Target.Backups.RequireChecksum, "Layout": map[string]any{"StripComponents": 1, "Root": "_data"}}, &good, func() string { return "" })
	}
	if err := r.checklist(); err != nil {
		return r.failed(err)
	}
	if checksFirst {
		if err := inspect(v0Checklist); err != nil {
			return r.failed(err)
		}
		if err := pick(); err != nil {
			return r.failed(err)
		}
	}
	if err := r.approval(); err != nil {
		return r.failed(err)
	}
	stopped, removed, restored := false, false, false
	defer func() {
		if err == nil || !temporal.IsCanceledError(err) || !stopped {
			return
		}
		back, _ := workflow.NewDisconnectedContext(r.ctx)
		var snap struct{ Local, Path, SHA256 string }
		_ = json.Unmarshal(proof, &snap)
		if removed && !restored {
			var ignored json.RawMessage
			if r.exec(back, "Put back", "RemoveVolume", map[string]any{"Volume": volume, "Snapshot": proof}, &ignored) != nil {
				return
			}
			_ = r.exec(back, "Put back", "CreateVolume", before, &ignored)
			if r.exec(back, "Put back", "RestoreVolume", map[string]any{"Volume": volume, "Backup": cmp.Or(snap.Local, snap.Path), "VerifiedSHA256": snap.SHA256,
				"Layout": map[string]any{"StripComponents": 1, "Root": "_data"}}, &ignored) != nil {
				return
			}
		}
		_ = r.composeUp(back, "Put the stack back as it was")
	}()
	var ignored json.RawMessage
	if err := r.run(v0Stop, "StopProject", map[string]any{"Project": in.Target.Project, "Grace": in.Target.StopGrace}, &ignored, func() string { return "" }); err != nil {
		return r.failed(err)
	}
	stopped = true
	if !checksFirst {
		if err := pick(); err != nil {
			return r.failed(err)
		}
		if err := inspect("Snapshot"); err != nil {
			return r.failed(err)
		}
	}
	var chosen struct{ Chosen struct{ Name, SHA256 string } }
	_ = json.Unmarshal(good, &chosen)
	if err := r.run("Snapshot", "SnapshotVolume", map[string]string{"Volume": volume, "Name": r.evidence("failed_deployment_" + volume + ".tar.gz")}, &proof, func() string { return "" }); err != nil {
		return r.failed(err)
	}
	if err := r.run("Fetch", "DownloadBackup", map[string]any{"Location": in.Target.Backups.Location, "Name": chosen.Chosen.Name, "SHA256": chosen.Chosen.SHA256}, &local, func() string { return "" }); err != nil {
		return r.failed(err)
	}
	if err := r.run("Remove", "RemoveVolume", map[string]any{"Volume": volume, "Snapshot": proof}, &ignored, func() string { return "" }); err != nil {
		return r.failed(err)
	}
	removed = true
	if err := r.run("Create", "CreateVolume", before, &ignored, func() string { return "" }); err != nil {
		return r.failed(err)
	}
	if err := r.run("Restore", "RestoreVolume", map[string]any{"Volume": volume, "Backup": local.Path, "VerifiedSHA256": chosen.Chosen.SHA256,
		"Layout": map[string]any{"StripComponents": 1, "Root": "_data"}}, &ignored, func() string { return "" }); err != nil {
		return r.failed(err)
	}
	restored = true
	if err := r.startAndVerify(); err != nil {
		return r.failed(err)
	}
	if err := r.archive(); err != nil {
		return r.failed(err)
	}
	return r.completed("restored " + chosen.Chosen.Name)
}

// codeV0 is the quick (rebuild false) or git (rebuild true) rollback of earlier releases.
func codeV0(ctx workflow.Context, in Request, rebuild bool) (res Result, err error) {
	r, err := newV0(ctx, in, v0Checklist, v0Approval, v0Stop)
	if err != nil {
		return Result{}, err
	}
	dir := in.Target.WorkingDir
	if dir == "" {
		return r.failed(temporal.NewNonRetryableApplicationError("stack "+in.Stack+" has no working_dir", failure.BadInput, nil))
	}
	if err := r.checklist(); err != nil {
		return r.failed(err)
	}
	if err := r.approval(); err != nil {
		return r.failed(err)
	}
	var target struct{ Ref, Commit, Head string }
	if err := r.exec(r.ctx, "Checkout", "Resolve", map[string]string{"Dir": dir, "Ref": cmp.Or(in.Ref, "previous-tag")}, &target); err != nil {
		return r.failed(r.stepFailed("Checkout", err))
	}
	stopped, moved := false, false
	defer func() {
		if err == nil || !temporal.IsCanceledError(err) || !stopped {
			return
		}
		back, _ := workflow.NewDisconnectedContext(r.ctx)
		if moved {
			var ignored json.RawMessage
			_ = r.exec(back, "Put back", "Checkout", map[string]any{"Dir": dir, "Commit": target.Head, "Reset": in.Reset}, &ignored)
		}
		_ = r.composeUp(back, "Put the stack back as it was")
	}()
	var ignored json.RawMessage
	if err := r.run(v0Stop, "StopProject", map[string]any{"Project": in.Target.Project, "Grace": in.Target.StopGrace}, &ignored, func() string { return "" }); err != nil {
		return r.failed(err)
	}
	stopped = true
	if rebuild {
		info := workflow.GetInfo(ctx).WorkflowExecution
		if err := r.run("Stash", "StashChanges", map[string]string{"Dir": dir, "Label": "rewind: " + info.ID + " " + info.RunID}, &ignored, func() string { return "" }); err != nil {
			return r.failed(err)
		}
	} else {
		if err := r.run("Remove", "RemoveContainers", map[string]string{"Project": in.Target.Project}, &ignored, func() string { return "" }); err != nil {
			return r.failed(err)
		}
		if in.Target.Image == "" {
			r.track.finish("Remove image", StateSkipped, "no image configured for removal")
		} else if err := r.run("Remove image", "RemoveImage", map[string]string{"Image": in.Target.Image}, &ignored, func() string { return "" }); err != nil {
			return r.failed(err)
		}
	}
	if err := r.run("Checkout", "Checkout", map[string]any{"Dir": dir, "Commit": target.Commit, "Reset": in.Reset}, &ignored, func() string { return "" }); err != nil {
		return r.failed(err)
	}
	moved = true
	if rebuild {
		tag := in.Target.Build.Image + ":" + strings.NewReplacer("/", "-", "~", "-", "^", "-").Replace(target.Ref)
		if err := r.run("Build", "BuildImage", map[string]string{"Context": dir, "Dockerfile": in.Target.Build.Dockerfile, "Tag": tag}, &ignored, func() string { return "" }); err != nil {
			return r.failed(err)
		}
	}
	if err := r.startAndVerify(); err != nil {
		return r.failed(err)
	}
	if err := r.archive(); err != nil {
		return r.failed(err)
	}
	return r.completed("now running " + target.Ref)
}

// emergencyV0 is the emergency stop of earlier releases: capture, then stop.
func emergencyV0(ctx workflow.Context, in Request) (Result, error) {
	r, err := newV0(ctx, in, v0Stop)
	if err != nil {
		return Result{}, err
	}
	project := map[string]string{"Project": in.Target.Project}
	var ignored json.RawMessage
	for _, s := range []struct {
		activity string
		input    any
	}{
		{"CaptureState", map[string]string{"Project": in.Target.Project, "Prefix": r.evidence("checklist")}},
		{"StopProject", map[string]any{"Project": in.Target.Project, "Grace": in.Target.StopGrace}},
		{"RemoveContainers", project},
		{"PruneNetworks", project},
		{"Note", map[string]string{"Name": r.evidence("emergency_stop.log"), "Text": OfflineNotice}},
		{"Send", map[string]string{"Subject": "EMERGENCY STOP of " + in.Stack + ": " + OfflineNotice}},
	} {
		if err := r.run(v0Stop, s.activity, s.input, &ignored, func() string { return "" }); err != nil {
			return r.failed(err)
		}
	}
	return r.completed(OfflineNotice)
}
