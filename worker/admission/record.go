package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

// destructive says whether a step changes the stack: these run only once the run's
// admission is on record.
func destructive(activityType string) bool {
	switch activityType {
	case "StopProject", "RemoveContainers", "PruneNetworks", "ComposeUp", "StartProject", "SwapVolume", "UnswapVolume",
		"CopyVolume", "RemoveVolume", "CreateVolume", "RestoreVolume", "RemoveImage", "BuildImage",
		"Checkout", "StashChanges", "ApplyStash",
		// A backup's: its hold stops writes, its copy writes into the backup store.
		"HoldWrites", "ReleaseWrites", "CheckpointDatabase", "BackupVolume",
		// Retention removes backups.
		"PruneBackups":
		return true
	}
	return false
}

// runRecord is what the worker keeps of a run it admitted, so a later step (after a
// restart, or a key removed since) finds the run admitted and a put-back is never refused.
type runRecord struct {
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Requester  string    `json:"requester"`
	Approvers  []string  `json:"approvers,omitempty"`
	AdmittedAt time.Time `json:"admitted_at"`
}

// onRecord says why a run may not change its stack yet, or nil. Its admission is read
// again from what its callers sent the server (the start's input, the decisions' Update
// requests) and checked against the worker's own policy, for a worker of someone else's
// polling Rewind's queue could have written every other event of the history. The first
// admission is kept in the evidence store.
func (g *Gate) onRecord(ctx context.Context, workflowID, runID string) error {
	g.mu.Lock()
	known := g.admitted[runID]
	g.mu.Unlock()
	if known {
		return nil
	}
	name := "admissions/" + workflowID + "/" + runID + ".json"
	if _, err := g.Records.Stat(ctx, name); err == nil {
		g.remember(runID)
		return nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("read the admission of %s run %s: %w", workflowID, runID, err)
	}
	rec, err := g.admission(ctx, workflowID, runID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := g.Records.Create(ctx, name, body); err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("keep the admission of %s run %s: %w", workflowID, runID, err)
	}
	g.remember(runID)
	return nil
}

// remember keeps an admitted run in memory, so its later steps (a put-back) ask no store.
func (g *Gate) remember(runID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.admitted == nil || len(g.admitted) > 4096 {
		g.admitted = map[string]bool{}
	}
	g.admitted[runID] = true
}

// refusal is an admission that does not hold: the step is refused, not retried.
type refusal struct{ why string }

func (r refusal) Error() string { return r.why }

func refused(format string, a ...any) error { return refusal{fmt.Sprintf(format, a...)} }

// callerSent is what the callers of a run sent the server: its start and its decisions.
type callerSent struct {
	request    api.Request
	parent     *execution
	firstRunID string
	startedAt  time.Time
	decisions  []sentDecision
}

type execution struct{ ID, RunID string }

type sentDecision struct {
	api.Decision
	at time.Time
}

func (g *Gate) admission(ctx context.Context, workflowID, runID string) (runRecord, error) {
	sent, err := g.read(ctx, workflowID, runID)
	if err != nil {
		return runRecord{}, err
	}
	req := sent.request
	rec := runRecord{WorkflowID: workflowID, RunID: runID, Requester: req.Requester, AdmittedAt: time.Now().UTC()}
	// A stack of a group changes its stack on the group's admission.
	if p := sent.parent; p != nil && req.Group != "" && p.ID == api.GroupWorkflowID(req.Group) {
		if !slices.Contains(g.Config.Groups[req.Group].Stacks, req.Stack) || workflowID != api.WorkflowID(req.Stack) {
			return runRecord{}, refused("it runs as %s for stack %q, which is not a stack of group %s", workflowID, req.Stack, req.Group)
		}
		group, err := g.admission(ctx, p.ID, p.RunID)
		if err != nil {
			return runRecord{}, refused("its group rollback %s: %v", p.ID, err)
		}
		group.WorkflowID, group.RunID = workflowID, runID
		return group, nil
	}
	var pol config.Policy
	if req.Group != "" && workflowID == api.GroupWorkflowID(req.Group) {
		plan, err := g.Policy.GroupPlan(ctx, policy.GroupInput{Group: req.Group, Severity: req.Severity})
		if err != nil {
			return runRecord{}, refused("its group: %v", err)
		}
		pol = plan.Policy
	} else {
		// A backup is admitted as a P1 start of option backup: anyone on call may take one.
		if req.Option == api.OptionBackup && workflowID == api.BackupWorkflowID(req.Stack) {
			req.Severity = api.BackupSeverity
			sent.request = req
		} else if workflowID != api.WorkflowID(req.Stack) || req.Option == api.OptionBackup {
			return runRecord{}, refused("it runs as %s but its start names stack %q", workflowID, req.Stack)
		}
		plan, err := g.Policy.Plan(ctx, policy.ResolveInput{Stack: req.Stack, Severity: req.Severity})
		if err != nil {
			return runRecord{}, refused("its start: %v", err)
		}
		pol = plan.Policy
	}
	who, ok := pol.Person(req.Requester)
	if !ok {
		return runRecord{}, refused("its requester %s is not in this worker's policy", req.Requester)
	}
	decides := pol.Rule.DecisionTime > 0 && req.Option != api.OptionEmergency && req.Option != api.OptionBackup
	if !decides && pol.Rank(who.Role) < pol.Rank(pol.Rule.Role) {
		return runRecord{}, refused("%s may not start a %s rollback: it needs %s or above", who.Name, pol.Severity, pol.Rule.Role)
	}
	if err := g.proveStart(ctx, pol, who, sent, workflowID); err != nil {
		return runRecord{}, err
	}
	if !decides {
		return rec, nil
	}
	var why []string
	for _, d := range sent.decisions {
		err := proveApproval(pol, req.Requester, d, workflowID, runID)
		if err == nil {
			rec.Approvers = append(rec.Approvers, d.Approver)
			return rec, nil
		}
		why = append(why, err.Error())
	}
	if len(why) == 0 {
		return runRecord{}, refused("no approval of a %s or above was sent to it", pol.Rule.Role)
	}
	return runRecord{}, refused("no approval it was sent holds: %v", why)
}

// keysAt are the person's keys valid when the server took what they signed: their
// expiry-time and validity windows count as the workflow counted them.
func keysAt(who config.Person, at time.Time) []ssh.PublicKey {
	keys, _ := identity.KeysAt(who.Keys, at)
	return keys
}

// proveStart checks the start's signature as of when the server received it, and that
// its nonce was used by this run and no other.
func (g *Gate) proveStart(ctx context.Context, pol config.Policy, who config.Person, sent callerSent, workflowID string) error {
	req := sent.request
	if !pol.MustSign(who) {
		return nil
	}
	if req.Signature == "" {
		return refused("%s must sign a start, and this one is not signed", who.Name)
	}
	want := api.StartStatement(req, workflowID, time.Time{}, "")
	want.Severity = pol.Severity
	_, st, err := identity.Check(req.Signature, []byte(req.Statement), want, keysAt(who, sent.startedAt), sent.startedAt)
	if errors.Is(err, identity.ErrOlderStatement) && sent.startedAt.Before(g.Since) {
		// A run the release before admitted, started before this worker: its statement
		// says less, and its workflow went on as it was admitted then. No run started
		// since can pass as one.
		return nil
	}
	if err != nil {
		return refused("%s's signed start does not hold: %v", who.Name, err)
	}
	if st.Expires.After(sent.startedAt.Add(api.MaxStartSignedFor)) {
		return refused("%s's signed start was good for longer than %s", who.Name, api.MaxStartSignedFor)
	}
	err = g.Policy.ClaimNonce(ctx, policy.NonceClaim{Nonce: st.Nonce, WorkflowID: workflowID, RunID: sent.firstRunID, Person: st.Person})
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && !appErr.NonRetryable() && appErr.Type() != failure.NonceUsed {
		return err
	}
	if errors.As(err, &appErr) {
		return refused("%s's signed start: %v", who.Name, appErr.Message())
	}
	// The store did not answer: the step is retried.
	return err
}

// proveApproval checks one decision sent to the run as the gate judges it: an approval by
// someone of the rule's role or above, not the requester, proven as the severity's proofs
// and the person's keys ask (config.Policy.ProveDecision, the gate's own check).
func proveApproval(pol config.Policy, requester string, d sentDecision, workflowID, runID string) error {
	who, ok := pol.Person(d.Approver)
	switch {
	case !d.Approve:
		return fmt.Errorf("%q rejected", d.Approver)
	case !ok:
		return fmt.Errorf("%q is not in the policy", d.Approver)
	case d.Approver == requester:
		return fmt.Errorf("%s asked for the rollback", d.Approver)
	case pol.Rank(who.Role) < pol.Rank(pol.Rule.Role):
		return fmt.Errorf("%s is %s, below %s", who.Name, who.Role, pol.Rule.Role)
	}
	// The backups it names were judged by the gate; here only whose and what for.
	want := identity.Statement{WorkflowID: workflowID, RunID: runID, Person: who.Name, Action: identity.ActionApprove, Severity: pol.Severity}
	if d.Signature != "" {
		signed, err := identity.ParseStatement([]byte(d.Statement))
		if err != nil {
			return fmt.Errorf("%s's statement: %w", who.Name, err)
		}
		want.Backup = signed.Backup
	}
	proven := config.Proven{Statement: d.Statement, Signature: d.Signature, Proof: d.Proof}
	_, err := pol.ProveDecision(who, proven, want, d.at, api.MaxSignedFor)
	return err
}

// read collects what callers sent a run: the start's input and the decisions' Update
// requests, with when the server took each.
func (g *Gate) read(ctx context.Context, workflowID, runID string) (callerSent, error) {
	var sent callerSent
	dc := converter.GetDefaultDataConverter()
	it := g.Temporal.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	started := false
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return callerSent{}, fmt.Errorf("read the history of %s run %s: %w", workflowID, runID, err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			a := ev.GetWorkflowExecutionStartedEventAttributes()
			if err := dc.FromPayloads(a.GetInput(), &sent.request); err != nil {
				return callerSent{}, refused("its start is not a Rewind request: %v", err)
			}
			if p := a.GetParentWorkflowExecution(); p != nil {
				sent.parent = &execution{ID: p.GetWorkflowId(), RunID: p.GetRunId()}
			}
			sent.firstRunID = a.GetFirstExecutionRunId()
			if sent.firstRunID == "" {
				sent.firstRunID = runID
			}
			sent.startedAt = ev.GetEventTime().AsTime()
			started = true
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			if d, ok := decisionOf(dc, ev); ok {
				sent.decisions = append(sent.decisions, d)
			}
		}
	}
	if !started {
		return callerSent{}, refused("its history has no start")
	}
	return sent, nil
}

func decisionOf(dc converter.DataConverter, ev *historypb.HistoryEvent) (sentDecision, bool) {
	in := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput()
	if in.GetName() != api.DecideUpdate {
		return sentDecision{}, false
	}
	var d api.Decision
	if err := dc.FromPayloads(in.GetArgs(), &d); err != nil {
		return sentDecision{}, false
	}
	return sentDecision{Decision: d, at: ev.GetEventTime().AsTime()}, true
}
