package workflows

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
)

// rollback is the state one rollback workflow shares between its steps.
type rollback struct {
	ctx    workflow.Context
	in     Request
	track  *tracker
	prefix string
	result Result
}

func newRollback(ctx workflow.Context, in Request, steps ...string) (*rollback, error) {
	if in.Stack == "" || in.Target.Project == "" || in.HostQueue == "" {
		return nil, temporal.NewNonRetryableApplicationError(
			"request lacks stack, compose project or host task queue; start rollbacks with `rewind start`", docker.ErrBadInput, nil)
	}
	summary := fmt.Sprintf("%s rollback of %s, %s, by %s: %s", in.Option, in.Stack, in.Severity, in.Requester, in.Reason)
	t, err := newTracker(ctx, summary, steps...)
	if err != nil {
		return nil, err
	}
	day := workflow.Now(ctx).UTC().Format("20060102")
	return &rollback{
		ctx:    ctx,
		in:     in,
		track:  t,
		prefix: evidence.Prefix(day, workflow.GetInfo(ctx).WorkflowExecution.ID),
		result: Result{Stack: in.Stack, Option: in.Option},
	}, nil
}

func (r *rollback) evidence(name string) string { return path.Join(r.prefix, name) }

// run executes one step as an activity on the stack's Docker host and ticks it off.
func (r *rollback) run(step string, activity, input, result any, detail func() string) error {
	return r.runFor(step, 15*time.Minute, activity, input, result, detail)
}

// runFor is run with a longer limit, for transfers and waits.
func (r *rollback) runFor(step string, limit time.Duration, activity, input, result any, detail func() string) error {
	r.track.start(step)
	if err := r.execFor(step, limit, activity, input, result); err != nil {
		return r.stepFailed(step, err)
	}
	r.track.finish(step, StateDone, detail())
	return nil
}

// exec runs one activity of a step without ticking the step off.
func (r *rollback) exec(step string, activity, input, result any) error {
	return r.execFor(step, 15*time.Minute, activity, input, result)
}

// stepFailed marks the step failed and names it in the error, keeping the error's type
// (what the CLI and tests match on) and whether it may be retried.
func (r *rollback) stepFailed(step string, err error) error {
	r.track.finish(step, StateFailed, err.Error())
	if temporal.IsCanceledError(err) {
		return err
	}
	msg := strings.ToLower(step[:1]) + step[1:] + ": " + message(err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if appErr.NonRetryable() {
			return temporal.NewNonRetryableApplicationError(msg, appErr.Type(), err)
		}
		return temporal.NewApplicationErrorWithCause(msg, appErr.Type(), err)
	}
	return fmt.Errorf("%s: %w", strings.ToLower(step[:1])+step[1:], err)
}

func (r *rollback) execFor(step string, limit time.Duration, activity, input, result any) error {
	ctx := workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		TaskQueue:           r.in.HostQueue,
		Summary:             step + " — " + r.in.Stack,
		StartToCloseTimeout: max(limit, 15*time.Minute),
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        10,
			NonRetryableErrorTypes: []string{docker.ErrBadInput},
		},
	})
	return workflow.ExecuteActivity(ctx, activity, input).Get(ctx, result)
}

func (r *rollback) completed(notice string) Result {
	r.track.end("completed", notice)
	r.result.Outcome = "completed"
	r.result.Notice = notice
	r.result.Steps = r.track.progress.Steps
	return r.result
}

func (r *rollback) failed(err error) (Result, error) {
	r.track.end("failed", message(err))
	return Result{}, err
}

// escalate tells the next level that a decision is overdue; a failed notice only logs.
func (r *rollback) escalate(msg string) {
	var n *notify.Activities
	ctx := workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		TaskQueue: r.in.HostQueue, Summary: "Escalate — " + r.in.Stack, StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var res notify.Result
	if err := workflow.ExecuteActivity(ctx, n.Send, notify.Message{Subject: fmt.Sprintf("Rewind: %s rollback of %s needs a decision", r.in.Severity, r.in.Stack), Text: msg}).Get(ctx, &res); err != nil {
		workflow.GetLogger(r.ctx).Warn("escalation notice failed", "error", err)
	}
}

// message is what went wrong, without the SDK's wrapping of activity errors.
func message(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Message() != "" {
		return appErr.Message()
	}
	return err.Error()
}
