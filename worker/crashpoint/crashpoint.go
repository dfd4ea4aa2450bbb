// Package crashpoint makes the worker process die with SIGKILL at a named point, so tests
// prove a rollback survives a crash there. It is inert unless REWIND_CRASH_AT names a point:
// "before:<Activity>" (before the activity runs) or "after:<Activity>" (after it finished,
// before Temporal hears of it).
package crashpoint

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// Point is where to crash.
type Point struct {
	When     string // "before" or "after"
	Activity string
}

// Parse reads a point like "after:SnapshotVolume"; empty means none.
func Parse(spec string) (*Point, error) {
	if spec == "" {
		return nil, nil
	}
	when, name, ok := strings.Cut(spec, ":")
	if !ok || (when != "before" && when != "after") || name == "" {
		return nil, fmt.Errorf("REWIND_CRASH_AT=%q: want before:<Activity> or after:<Activity>", spec)
	}
	return &Point{When: when, Activity: name}, nil
}

// Interceptor kills the process at the point.
func Interceptor(p *Point) interceptor.WorkerInterceptor {
	return &workerInterceptor{point: p}
}

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	point *Point
}

func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityInterceptor{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, point: w.point}
}

type activityInterceptor struct {
	interceptor.ActivityInboundInterceptorBase
	point *Point
}

func (a *activityInterceptor) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	name := activity.GetInfo(ctx).ActivityType.Name
	if name == a.point.Activity && a.point.When == "before" {
		die(a.point)
	}
	res, err := a.Next.ExecuteActivity(ctx, in)
	if name == a.point.Activity && a.point.When == "after" && err == nil {
		die(a.point)
	}
	return res, err
}

func die(p *Point) {
	fmt.Fprintf(os.Stderr, "crash point %s:%s reached: SIGKILL\n", p.When, p.Activity)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal ends the process; nothing after it may run
}
