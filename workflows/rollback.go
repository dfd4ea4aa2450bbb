package workflows

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// rollback is one run of a rollback workflow: its request, the plan the worker resolved
// for it, its checklist, and the undo stack of what it changed.
type rollback struct {
	ctx workflow.Context
	req api.Request
	// subject is what the run rolls back, as notices and summaries name it: the stack, or
	// "group <name>".
	subject string
	plan    config.Plan
	track   *tracker
	gate    *gate
	// prefix is this run's evidence folder: incidents/YYYYMMDD/<workflow>/<run>.
	prefix string
	// undo holds, in the order the changes were made, how to put each back.
	undo []undo
	// startedAgain is set once a put-back started the stack it had stopped: the put-back
	// then waits on it and says whether it is healthy. found is how the checklist found
	// it (docker.CaptureResult.Health).
	startedAgain bool
	found        string
	// stopped are the containers the stack's stop stopped or killed: a start starts only these.
	stopped []string
	// cleanups remove what a failed run made for itself (staging volumes).
	cleanups []func(ctx workflow.Context)
	// sections are more of the incident report (backups, versions, verification).
	sections []string
	// notices are what people must know of a rollback that completed.
	notices []string
	result  api.Result
	// slack is the message notifications of this run update in place.
	slack notify.SlackMessage
	// drills are the stack's restore drills by backup name: failed ones are skipped.
	drills map[string]backups.Drill
	// drillsUnread says why no backup is skipped for its drill, when the drills could not be read.
	drillsUnread string
}

// versionWorkerOwnsPolicy: a run's target and policy come from the worker's configuration.
const versionWorkerOwnsPolicy = "worker-owns-policy"

// undo puts back one change the rollback made to the stack.
type undo struct {
	what string
	run  func(ctx workflow.Context) error
}

// begin starts a rollback: the checklist in the Web UI, the approval gate's handlers, and
// the plan from the worker's configuration, checked against the request.
func begin(ctx workflow.Context, req api.Request, steps ...string) (*rollback, error) {
	// Every run since the worker owned the policy (2026-11) records this version first; the
	// runs before it are retired, so a history without it fails to replay instead of
	// taking steps it never took. Kept so that runs of this release and the one before
	// replay alike on either.
	workflow.GetVersion(ctx, versionWorkerOwnsPolicy, 1, 1)
	info := workflow.GetInfo(ctx).WorkflowExecution
	summary := fmt.Sprintf("%s rollback of %s, %s, by %s: %s", req.Option, req.Stack, req.Severity, req.Requester, req.Reason)
	t, err := newTracker(ctx, summary, steps...)
	if err != nil {
		return nil, err
	}
	r := &rollback{
		ctx: ctx, req: req, subject: req.Stack, track: t,
		prefix: evidence.Prefix(workflow.Now(ctx).UTC().Format("20060102"), info.ID, info.RunID),
		result: api.Result{Stack: req.Stack, Option: req.Option},
	}
	if r.gate, err = newGate(r); err != nil {
		return nil, err
	}
	if err := r.resolve(); err != nil {
		t.end("failed", message(err))
		return nil, err
	}
	return r, nil
}

// resolve asks the worker's own configuration for the stack's target and policy (a local
// activity, recorded in history) and checks the requester against that policy.
func (r *rollback) resolve() error {
	var p *policy.Activities
	ctx := askWorker(r.ctx)
	if err := workflow.ExecuteLocalActivity(ctx, p.Plan, policy.ResolveInput{Stack: r.req.Stack, Severity: r.req.Severity}).Get(ctx, &r.plan); err != nil {
		return err
	}
	return r.admit()
}

// step runs one line of the checklist: marked running, then done with body's detail, or
// failed with its error (the step's name leads the message, the error keeps its type).
func (r *rollback) step(name string, body func() (detail string, err error)) error {
	if err := r.track.start(name); err != nil {
		return err
	}
	detail, err := body()
	if err != nil {
		// start found the line, so finish does too.
		_ = r.track.finish(name, api.StateFailed, message(err))
		return named(name, err)
	}
	return r.track.finish(name, api.StateDone, detail)
}

// skip marks a step that does not apply to this run.
func (r *rollback) skip(name, why string) error { return r.track.finish(name, api.StateSkipped, why) }

// step is one row of an option's table: the checklist lines it marks and the method that
// runs it. The table is the option: its checklist (Steps, what `rewind plan` and the Web
// UI show) and the order its workflow runs in are both read from it.
type step[R any] struct {
	lines []string
	run   func(R) error
}

// run is one option's run: a rollback and what its steps hand on to the next.
type run interface{ engine() *rollback }

func (r *rollback) engine() *rollback { return r }

// line is a step that is one line of the checklist: marked running, then done with its
// method's detail, or failed with its error.
func line[R run](name string, do func(R) (string, error)) step[R] {
	return step[R]{lines: []string{name}, run: func(x R) error {
		return x.engine().step(name, func() (string, error) { return do(x) })
	}}
}

// marking is a step that marks its own lines: one that may not apply to a run (skipped),
// or that runs beside another (the approval gate beside the staging restore).
func marking[R run](do func(R) error, lines ...string) step[R] {
	return step[R]{lines: lines, run: do}
}

// linesOf is an option's checklist, in the order its table runs.
func linesOf[R run](table []step[R]) []string {
	var out []string
	for _, s := range table {
		out = append(out, s.lines...)
	}
	return out
}

// runSteps runs a table's steps in order until one fails.
func runSteps[R run](x R, table []step[R]) error {
	for _, s := range table {
		if err := s.run(x); err != nil {
			return err
		}
	}
	return nil
}

// exec runs one activity on the stack's Docker host. Every host activity heartbeats (the
// worker keeps a running one alive), so a dead worker is noticed within the heartbeat
// timeout and its step retried elsewhere or after a restart.
func (r *rollback) exec(p pace, activity, input, result any) error {
	return r.execIn(r.ctx, p, activity, input, result)
}

func (r *rollback) execIn(ctx workflow.Context, p pace, activity, input, result any) error {
	ctx = workflow.WithActivityOptions(ctx, heartbeating(r.plan, r.track.current()+" — "+r.req.Stack, p.limit(r.plan.Target), hostStepRetry()))
	err := workflow.ExecuteActivity(ctx, activity, input).Get(ctx, result)
	if notTaken(err) {
		return noWorker(err, r.plan.HostQueue, onTheStacksHost)
	}
	return err
}

// changed records how to put back a change the rollback just made.
func (r *rollback) changed(what string, put func(ctx workflow.Context) error) {
	r.undo = append(r.undo, undo{what: what, run: put})
}

// do runs steps in order until one fails.
func do(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// end finishes the run: on success the completed result; on failure or cancellation the
// changes are put back (newest first, unless the operator asked not to), people are told,
// and the error says in one message what failed, what was put back and where the evidence is.
func (r *rollback) end(err error, notice string) (api.Result, error) {
	ctx, _ := workflow.NewDisconnectedContext(r.ctx)
	defer func() {
		for _, c := range r.cleanups {
			if err != nil {
				c(ctx)
			}
		}
	}()
	if err == nil {
		notice = strings.Join(append([]string{notice}, r.notices...), "; ")
		r.track.end("completed", notice)
		r.result.Outcome, r.result.Notice, r.result.Steps = "completed", notice, r.track.progress.Steps
		r.notify(notify.Event{Kind: notify.KindFinished, Outcome: notice})
		return r.result, nil
	}
	msg := message(err)
	switch {
	case len(r.undo) == 0:
		msg += "; nothing was changed"
	case r.req.NoPutBack:
		msg += "; left as it is (--no-put-back): " + r.changes()
	default:
		msg += "; " + r.putBack(ctx)
	}
	msg += "; evidence: " + r.prefix
	r.track.end("failed", msg)
	r.notifyIn(ctx, notify.Event{Kind: notify.KindFailed, Outcome: "failed", Detail: msg})
	if temporal.IsCanceledError(err) {
		return api.Result{}, err
	}
	var appErr *temporal.ApplicationError
	kind := failure.RollbackFailed
	if errors.As(err, &appErr) {
		kind = appErr.Type()
	}
	return api.Result{}, temporal.NewNonRetryableApplicationError(msg, kind, err)
}

// putBack undoes the changes newest first — what the rollback started is stopped before
// any volume goes back — then waits on the stack it started again, and says what is true.
func (r *rollback) putBack(ctx workflow.Context) string {
	const step = "Put the stack back as it was"
	r.track.add(step)
	if err := r.track.start(step); err != nil {
		return message(err)
	}
	var done, failed []string
	for _, u := range slices.Backward(r.undo) {
		if err := u.run(ctx); err != nil {
			failed = append(failed, u.what+" ("+message(err)+")")
			continue
		}
		done = append(done, u.what)
	}
	waited := r.startedAgain && r.restoresRunningState(ctx)
	var sick error
	if waited {
		// As found: a stack that was broken before is not waited on for its whole timeout.
		within := r.plan.Target.Checks.HealthTimeout
		if r.found != "" && r.found != docker.HealthHealthy && (within <= 0 || within > glance) {
			within = glance
		}
		_, sick = r.awaitHealthy(ctx, within)
	}
	detail, state := "put back: "+strings.Join(done, ", "), api.StateDone
	switch {
	case len(failed) > 0:
		detail, state = "could not put back: "+strings.Join(failed, ", "), api.StateFailed
		if len(done) > 0 {
			detail += "; put back: " + strings.Join(done, ", ")
		}
		if waited && sick == nil {
			detail += "; the stack is healthy"
		}
	case waited && sick == nil:
		detail = "put back and healthy: " + strings.Join(done, ", ")
	}
	if sick != nil {
		detail += "; not healthy: " + message(sick)
		if r.found != "" && r.found != docker.HealthHealthy {
			detail += " (as found: " + r.found + ")"
		}
	}
	if err := r.track.finish(step, state, detail); err != nil {
		return message(err)
	}
	return detail
}

func (r *rollback) changes() string {
	var out []string
	for _, u := range r.undo {
		out = append(out, u.what)
	}
	return "to put back: " + strings.Join(out, ", ")
}

// evidence names a file of this run's evidence.
func (r *rollback) evidence(name string) string { return path.Join(r.prefix, name) }

// named puts the step's name before the error's message, keeping its type and whether
// it may be retried.
func named(step string, err error) error {
	if temporal.IsCanceledError(err) {
		return err
	}
	msg := strings.ToLower(step[:1]) + step[1:] + ": " + message(err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return temporal.NewNonRetryableApplicationError(msg, appErr.Type(), err)
	}
	return temporal.NewNonRetryableApplicationError(msg, failure.StepFailed, err)
}

// message is what went wrong, without the SDK's wrapping of activity errors.
func message(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Message() != "" {
		return appErr.Message()
	}
	return err.Error()
}
