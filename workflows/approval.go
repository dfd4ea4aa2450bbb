package workflows

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// gate is the approval gate of the runbook's decision table. Decisions arrive as Updates:
// the validator judges each against the worker's policy, so a refused one is answered at
// once and leaves no trace in history; an accepted one is recorded in the decision log.
type gate struct {
	r    *rollback
	open bool
	// backups are what a full rollback restores; decisions name them (statement backup).
	backups []string
	// decided is the accepted decision, and for which backups it was given.
	decided    *api.DecisionRecord
	decidedFor string
}

func newGate(r *rollback) (*gate, error) {
	g := &gate{r: r}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, api.DecideUpdate, g.accept, workflow.UpdateHandlerOptions{Validator: g.validate}); err != nil {
		return nil, fmt.Errorf("register %s update: %w", api.DecideUpdate, err)
	}
	return g, nil
}

// validate refuses what may not count; it changes nothing.
func (g *gate) validate(ctx workflow.Context, d api.Decision) error {
	if !g.open {
		return fmt.Errorf("%s is not waiting for a decision (now: %s)", workflow.GetInfo(ctx).WorkflowExecution.ID, g.r.track.progress.Phase)
	}
	_, _, err := g.judge(ctx, d, nil)
	return err
}

// versionKeysAtUse: from here a decision the validator let through is judged again, in
// the handler, by the person's keys read from the policy at that moment (a recorded local
// activity): a key removed or past its window since the rollback started counts no more.
const versionKeysAtUse = "keys-checked-at-use"

// accept records a decision the validator let through, once the keys it was signed with
// still hold.
func (g *gate) accept(ctx workflow.Context, d api.Decision) (api.DecisionRecord, error) {
	why, proof, err := g.judge(ctx, d, nil)
	if err == nil && g.open && workflow.GetVersion(ctx, versionKeysAtUse, workflow.DefaultVersion, 1) >= 1 {
		if why, proof, err = g.judgeAtUse(ctx, d); err != nil {
			g.r.record(api.DecisionRecord{Reason: fmt.Sprintf("a decision as %s was refused when its keys were read again: %s", d.Approver, err)})
			return api.DecisionRecord{}, err
		}
	}
	if err != nil || !g.open {
		// A decision that became stale between validation and now (another approver was
		// first) is refused like any other.
		return api.DecisionRecord{}, errors.Join(err, errors.New("the gate closed before this decision was recorded"))
	}
	rec := api.DecisionRecord{Approver: d.Approver, Approve: d.Approve, Accepted: true, Reason: why, Proof: proof}
	g.r.record(rec)
	g.decided, g.decidedFor, g.open = &rec, g.backupDigest(), false
	return rec, nil
}

// judgeAtUse judges a decision again by the approver's keys, Slack user and the Slack
// bridge key as the worker's policy says now, read by a local activity whose result is
// recorded, so replay judges alike.
func (g *gate) judgeAtUse(ctx workflow.Context, d api.Decision) (why, proof string, err error) {
	var a *policy.Activities
	lctx := askWorker(ctx)
	var now policy.PersonKeys
	if err := workflow.ExecuteLocalActivity(lctx, a.KeysNow, policy.KeysInput{Person: d.Approver}).Get(lctx, &now); err != nil {
		return "", "", fmt.Errorf("could not read %s's keys from the worker's policy now (%s): try again", d.Approver, message(err))
	}
	if !now.Found {
		return "", "", fmt.Errorf("%s is no longer in the worker's policy", d.Approver)
	}
	if !g.open {
		return "", "", errors.New("the gate closed while the keys were read")
	}
	return g.judge(ctx, d, &now)
}

// judge says whether a decision counts, why and by what proof, or why not: by the keys the
// plan recorded at the start, or by keys read since (now).
func (g *gate) judge(ctx workflow.Context, d api.Decision, now *policy.PersonKeys) (why, proof string, err error) {
	p := g.r.plan.Policy
	who, ok := p.Person(d.Approver)
	if ok && now != nil {
		who.Keys = now.Keys
		// Results recorded by earlier releases read no Slack: the plan's counts for them.
		if now.SlackRead {
			who.Slack, p.SlackKey = now.Slack, now.SlackKey
		}
	}
	switch {
	case !ok:
		return "", "", fmt.Errorf("%s is not an approver of this rollback", d.Approver)
	case d.Approver == g.r.req.Requester:
		return "", "", fmt.Errorf("%s asked for this rollback and cannot approve it too", d.Approver)
	case p.Rank(who.Role) < p.Rank(p.Rule.Role):
		return "", "", fmt.Errorf("%s is %s; this severity needs %s or above", who.Name, who.Role, p.Rule.Role)
	case !d.Approve && strings.TrimSpace(d.Reason) == "":
		return "", "", errors.New("a rejection needs a reason for the incident record")
	case !g.backupsKnown():
		return "", "", errors.New("the backup to restore is still being checked; decide once `rewind status` names it")
	}
	action := identity.ActionApprove
	if !d.Approve {
		action = identity.ActionReject
	}
	info := workflow.GetInfo(ctx).WorkflowExecution
	want := identity.Statement{WorkflowID: info.ID, RunID: info.RunID, Person: d.Approver, Action: action, Severity: p.Severity, Backup: g.backupDigest()}
	proven := config.Proven{Statement: d.Statement, Signature: d.Signature, Proof: d.Proof}
	if proof, err = p.ProveDecision(who, proven, want, workflow.Now(g.r.ctx), api.MaxSignedFor); err != nil {
		return "", "", err
	}
	if d.Approve {
		return fmt.Sprintf("approved by %s (%s)%s", who.Name, who.Role, g.forBackups()), proof, nil
	}
	return fmt.Sprintf("rejected by %s (%s): %s", who.Name, who.Role, d.Reason), proof, nil
}

func (g *gate) backupDigest() string { return api.BackupDigest(g.backups) }

// backupsKnown reports whether every volume's backup is named with its checksum.
func (g *gate) backupsKnown() bool {
	for _, b := range g.backups {
		if b == "" {
			return false
		}
	}
	return true
}

func (g *gate) forBackups() string {
	if len(g.backups) == 0 {
		return ""
	}
	return " to restore " + strings.Join(g.backups, ", ")
}

// prove checks a person's signed statement when the policy or their keys ask for one, and
// returns what they signed.
func (r *rollback) prove(who config.Person, statement, signature string, want identity.Statement) (identity.Statement, error) {
	_, st, err := r.proveBy(who, statement, signature, want)
	return st, err
}

// proveBy is prove that also names the key that signed (nil when nothing was signed).
func (r *rollback) proveBy(who config.Person, statement, signature string, want identity.Statement) (ssh.PublicKey, identity.Statement, error) {
	// A start names no run: its short life, and its nonce, keep it from starting another.
	limit := api.MaxSignedFor
	if want.IsStart() {
		limit = api.MaxStartSignedFor
	}
	return r.plan.Policy.ProveSigned(who, statement, signature, want, workflow.Now(r.ctx), limit)
}

// versionGroupParentChecked: from here a stack of a group asks the server whether its
// parent is Rewind's group rollback on Rewind's queue, not a workflow of that ID of anyone's.
const versionGroupParentChecked = "group-parent-checked"

// versionClaimedStarts: from here a signed start binds the whole request (statement v2) and
// its nonce is claimed once. Runs admitted before went on as they were admitted.
const versionClaimedStarts = "signed-start-v2-nonce"

// admit checks the run and its requester against the policy before anything runs: the
// run's workflow ID is the one of its stack (or group), the requester is in the policy, a
// P1 (which waits for nobody) needs the P1 role, and a signed start must say everything
// the request asks and is admitted once.
func (r *rollback) admit() error {
	p := r.plan.Policy
	who, ok := p.Person(r.req.Requester)
	refuseAs := func(kind, why string) error {
		r.record(api.DecisionRecord{Approver: r.req.Requester, Approve: true, Reason: why})
		return temporal.NewNonRetryableApplicationError(why+"; nothing was changed", kind, nil)
	}
	refuse := func(why string) error { return refuseAs(failure.NotAuthorized, why) }
	if why := r.wrongID(); why != "" {
		return refuseAs(failure.BadInput, why)
	}
	if !ok {
		return refuse(fmt.Sprintf("%s is not in this worker's policy and may not start rollbacks", r.req.Requester))
	}
	if (p.Rule.DecisionTime == 0 || r.req.Option == api.OptionEmergency) && p.Rank(who.Role) < p.Rank(p.Rule.Role) {
		return refuse(fmt.Sprintf("%s may not start a %s rollback: it needs %s or above", who.Name, r.req.Severity, p.Rule.Role))
	}
	// A stack of a group rollback was started by the group, whose start was proven: the
	// server, not the request, says the parent is Rewind's group rollback on this queue.
	if r.groupApproved() {
		if workflow.GetVersion(r.ctx, versionGroupParentChecked, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return nil
		}
		if why := r.parentNotGroup(); why != "" {
			return refuse(why)
		}
		return nil
	}
	if !p.MustSign(who) && r.req.Signature == "" {
		return nil
	}
	if workflow.GetVersion(r.ctx, versionClaimedStarts, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		// Replaying a run an earlier release admitted: it was checked then, and goes on.
		return nil
	}
	info := workflow.GetInfo(r.ctx).WorkflowExecution
	want := api.StartStatement(r.req, info.ID, time.Time{}, "")
	want.Severity = p.Severity
	st, err := r.prove(who, r.req.Statement, r.req.Signature, want)
	if err != nil {
		return refuse(err.Error())
	}
	if err := r.claimNonce(st); err != nil {
		return refuse(message(err))
	}
	return nil
}

// claimNonce records, in the store every worker shares, that this run used the signed
// start: a retry of this run is admitted again, another run with the same statement is not.
// The run is named by the first run of its chain, so a run that continued as new (a guard)
// is still the one its start admitted.
func (r *rollback) claimNonce(st identity.Statement) error {
	info := workflow.GetInfo(r.ctx)
	run := workflow.Execution{ID: info.WorkflowExecution.ID, RunID: cmp.Or(info.FirstRunID, info.WorkflowExecution.RunID)}
	var a *policy.Activities
	ctx := locally(r.ctx, time.Minute, 5)
	claim := policy.NonceClaim{Nonce: st.Nonce, WorkflowID: run.ID, RunID: run.RunID, Person: st.Person}
	if err := workflow.ExecuteLocalActivity(ctx, a.ClaimNonce, claim).Get(ctx, nil); err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == failure.NonceUsed {
			return err
		}
		return fmt.Errorf("could not record that this signed start was used (%s): try again once the evidence store is reachable", message(err))
	}
	return nil
}

// mustSignAs is mustSign for a name of the policy.
func mustSignAs(p config.Policy, name string) bool {
	who, _ := p.Person(name)
	return p.MustSign(who)
}

// derivedNonce is the nonce of a start a workflow signs itself (the guard's): unique to
// its run and request, and the same on replay, so it adds no command to its history.
func derivedNonce(ctx workflow.Context, req api.Request) string {
	info := workflow.GetInfo(ctx).WorkflowExecution
	sum := sha256.Sum256([]byte(info.ID + "\n" + info.RunID + "\n" + req.RequestedAt.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(sum[:])
}

// wrongID says why this run may not run under its workflow ID, or "". A stack's rollback
// runs only as rewind-<stack>, so two never run at once and a signed start names its
// stack; a group's as rewind-group-<group>; a stack of a group only as the group's child.
func (r *rollback) wrongID() string {
	info := workflow.GetInfo(r.ctx)
	id := info.WorkflowExecution.ID
	switch info.WorkflowType.Name {
	case api.GuardWorkflow:
		// A guard runs as its own ID and admits its starter through here.
		return ""
	case api.FleetWorkflow:
		if want := api.GroupWorkflowID(r.req.Group); id != want {
			return fmt.Sprintf("a rollback of group %s runs only as workflow %s, not %s: start it with `rewind start --group %s`", r.req.Group, want, id, r.req.Group)
		}
		return ""
	}
	if want := api.WorkflowID(r.req.Stack); id != want {
		return fmt.Sprintf("a rollback of stack %s runs only as workflow %s, not %s, so that two never run at once: start it with `rewind start --stack %s`", r.req.Stack, want, id, r.req.Stack)
	}
	if r.req.Group != "" || r.req.GroupDecision != "" {
		parent := info.ParentWorkflowExecution
		if parent == nil || parent.ID != api.GroupWorkflowID(r.req.Group) {
			return fmt.Sprintf("this rollback names group %q but was not started by that group's rollback %s: start a group with `rewind start --group`", r.req.Group, api.GroupWorkflowID(r.req.Group))
		}
	}
	return ""
}

// approval is the approval step, as the staging restore and a group run it.
func (r *rollback) approval() error { return r.step(api.StepApproval, r.approve) }

// approve is the approval step: a P1 goes at once (its requester was admitted with the
// P1 role); otherwise the gate waits for someone with the severity's role, escalates one
// level at the decision time and gives up at the hard deadline, having changed nothing.
func (r *rollback) approve() (string, error) {
	p := r.plan.Policy
	if r.groupApproved() {
		if differs := r.notWhatTheGroupApproved(); differs != "" {
			return "", temporal.NewNonRetryableApplicationError(differs+"; nothing was changed", failure.NotAuthorized, nil)
		}
		why := fmt.Sprintf("group %s: %s", r.req.Group, r.req.GroupDecision)
		r.record(api.DecisionRecord{Approver: r.req.Requester, Approve: true, Accepted: true, Reason: why})
		return why, nil
	}
	if p.Rule.DecisionTime == 0 {
		who, _ := p.Person(r.req.Requester)
		why := fmt.Sprintf("%s policy: %s (%s) proceeds at once", r.req.Severity, who.Name, who.Role)
		r.record(api.DecisionRecord{Approver: who.Name, Approve: true, Accepted: true, Reason: why})
		return why, nil
	}
	return r.awaitDecision()
}

// notWhatTheGroupApproved says how the backups this stack is about to restore differ from
// the ones its group's approval named for it, or "": a group's approval is for the backups
// it names, as a single stack's is. Groups that named none (other options, earlier
// releases) approve the stack's newest good backup.
func (r *rollback) notWhatTheGroupApproved() string {
	named := r.req.GroupBackups
	if len(named) == 0 || slices.Equal(named, r.gate.backups) {
		return ""
	}
	return fmt.Sprintf("group %s's approval named %s for %s, but this rollback would restore %s: start the group again to approve what it restores",
		r.req.Group, strings.Join(named, ", "), r.req.Stack, strings.Join(r.gate.backups, ", "))
}

func (r *rollback) awaitDecision() (string, error) {
	g, p := r.gate, r.plan.Policy
	hard := max(p.Rule.HardDeadline, p.Rule.DecisionTime)
	start := workflow.Now(r.ctx)
	g.open, g.decided = true, nil
	if err := r.track.waiting(api.StepApproval, fmt.Sprintf("%s needs a %s or above within %s: rewind approve %s --as NAME", r.req.Severity, p.Rule.Role, p.Rule.DecisionTime, workflow.GetInfo(r.ctx).WorkflowExecution.ID),
		&api.Gate{Role: p.Rule.Role, Deadline: start.Add(hard), Backups: g.backups, RunID: workflow.GetInfo(r.ctx).WorkflowExecution.RunID, Severity: p.Severity}); err != nil {
		return "", err
	}
	r.notify(notify.Event{Kind: notify.KindApprovalNeeded, Approvers: r.approvers(p.Rule.Role), Backup: strings.Join(g.backups, ", "), Deadline: start.Add(hard)})
	decided := func() bool { return g.decided != nil }
	ok, err := workflow.AwaitWithTimeout(r.ctx, p.Rule.DecisionTime, decided)
	if err == nil && !ok {
		next := p.Rule.Role
		if i := p.Rank(next); i >= 0 && i+1 < len(p.Escalation) {
			next = p.Escalation[i+1]
		}
		msg := fmt.Sprintf("no decision from a %s within %s; escalated to %s", p.Rule.Role, p.Rule.DecisionTime, next)
		r.record(api.DecisionRecord{Reason: msg})
		r.notify(notify.Event{Kind: notify.KindEscalated, Approvers: r.approvers(next), Detail: msg, Backup: strings.Join(g.backups, ", "), Deadline: start.Add(hard)})
		ok, err = workflow.AwaitWithTimeout(r.ctx, hard-workflow.Now(r.ctx).Sub(start), decided)
	}
	g.open = false
	r.track.progress.Gate = nil
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("no approval within the hard deadline of %s", hard), failure.NoDecision, nil)
	}
	d := g.decided
	verdict := notify.VerdictApproved
	if !d.Approve {
		verdict = notify.VerdictRejected
	}
	r.notify(notify.Event{Kind: notify.KindDecided, Decision: notify.Decision{By: d.Approver, Verdict: verdict, Note: d.Reason, Proof: d.Proof}})
	if !d.Approve {
		return "", temporal.NewNonRetryableApplicationError(d.Reason, failure.Rejected, nil)
	}
	return d.Reason, nil
}

// approvers names the people who may decide at role or above.
func (r *rollback) approvers(role string) []string {
	p := r.plan.Policy
	var out []string
	for _, x := range p.People {
		if p.Rank(x.Role) >= p.Rank(role) && x.Name != r.req.Requester {
			out = append(out, x.Name)
		}
	}
	return out
}

func (r *rollback) record(d api.DecisionRecord) {
	d.At = workflow.Now(r.ctx)
	r.track.progress.Decisions = append(r.track.progress.Decisions, d)
	r.track.publish()
}
