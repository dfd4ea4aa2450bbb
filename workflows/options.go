package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
)

// Every activity option of the package is built here: how long a kind of call may take,
// where it runs and how often it is tried.

// pace is how long a kind of step may take: the retry policy is shared, the limits are not.
type pace int

const (
	quick    pace = iota // engine calls and notes: seconds
	stopping             // stop the stack: its grace period and a kill
	waiting              // until healthy: the stack's health timeout
	building             // image builds and git
	moving               // transfers: restores, snapshots, copies, downloads
)

func (p pace) limit(t config.Stack) time.Duration {
	switch p {
	case stopping:
		return t.StopGracePeriod + 5*time.Minute
	case waiting:
		return t.Checks.HealthTimeout + 2*time.Minute
	case building:
		return time.Hour
	case moving:
		return 6 * time.Hour
	}
	return 5 * time.Minute
}

// noWorkerAfter is how long a step waits for a worker on the stack's host to take it,
// unless worker.schedule_to_start says otherwise.
const noWorkerAfter = 10 * time.Minute

// askWorker runs the local activities that read the worker's own configuration (a
// stack's or a group's plan, a person's keys): recorded in history, seconds each.
func askWorker(ctx workflow.Context) workflow.Context {
	return locally(ctx, 30*time.Second, 3)
}

// locally runs a local activity within the time, tried attempts times.
func locally(ctx workflow.Context, within time.Duration, attempts int32) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: within,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: attempts},
	})
}

// anyWorker runs a short activity on the workflow's own task queue, which every Rewind
// worker polls (notices, questions to the server): people hear of a rollback whose host
// has no worker.
func anyWorker(ctx workflow.Context, summary string, limit time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: workflow.GetInfo(ctx).TaskQueueName, Summary: summary,
		ScheduleToStartTimeout: noWorkerAfter, StartToCloseTimeout: limit,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	})
}

// onHost is an activity on the stack's Docker host that a worker there must take within
// worker.schedule_to_start, and finish within limit.
func onHost(plan config.Plan, summary string, limit time.Duration, retry *temporal.RetryPolicy) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue: plan.HostQueue, Summary: summary,
		ScheduleToStartTimeout: cmp.Or(plan.ScheduleToStart, noWorkerAfter), StartToCloseTimeout: limit,
		RetryPolicy: retry,
	}
}

// heartbeating is onHost for a step that heartbeats (the worker keeps a running one
// alive), so a dead worker is noticed within the heartbeat timeout, not at its limit.
func heartbeating(plan config.Plan, summary string, limit time.Duration, retry *temporal.RetryPolicy) workflow.ActivityOptions {
	o := onHost(plan, summary, limit, retry)
	o.HeartbeatTimeout = cmp.Or(plan.HeartbeatTimeout, 20*time.Second)
	return o
}

// captureOptions bound the evidence capture beside an emergency stop: stopping never
// waits on it (captureLimit), whether or not a worker takes it.
func captureOptions(plan config.Plan, summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue: plan.HostQueue, Summary: summary,
		ScheduleToCloseTimeout: captureLimit, HeartbeatTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	}
}

// checkOptions are the verification's checks on the host. Checks answer within seconds
// or heartbeat: a worker that died mid-check is noticed in seconds, not at the two-minute
// limit.
func checkOptions(hostQueue string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue: hostQueue, StartToCloseTimeout: 2 * time.Minute, HeartbeatTimeout: 15 * time.Second,
		RetryPolicy: tries(5),
	}
}

// tries is a retry policy of attempts, bad input never retried.
func tries(attempts int32) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{MaximumAttempts: attempts, NonRetryableErrorTypes: []string{failure.BadInput}}
}

// hostStepRetry is how a rollback's steps on the host are retried: backing off to half a
// minute, ten times, bad input never.
func hostStepRetry() *temporal.RetryPolicy {
	r := tries(10)
	r.InitialInterval, r.BackoffCoefficient, r.MaximumInterval = time.Second, 2, 30*time.Second
	return r
}

// notTaken reports whether no worker took an activity in time.
func notTaken(err error) bool {
	var timeout *temporal.TimeoutError
	return errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

// noWorker is the error of a step no worker took (notTaken), as people act on it: which
// queue has no worker, and where to start one.
func noWorker(err error, queue, where string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("no worker is polling %s: start the Rewind worker on %s", queue, where), failure.NoWorker, err)
}

// onTheStacksHost is where a worker must run for a stack's steps.
const onTheStacksHost = "the stack's Docker host"
