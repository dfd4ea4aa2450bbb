package runner

import (
	"context"

	"go.temporal.io/sdk/interceptor"

	"github.com/algotrendy/rewind/activities/docker"
)

// failFast ends a step at once when the Docker Engine refuses it (docker.FailFast), instead
// of retrying for minutes what no retry can heal.
type failFast struct {
	interceptor.WorkerInterceptorBase
}

func (*failFast) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &failFastActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type failFastActivity struct {
	interceptor.ActivityInboundInterceptorBase
}

func (f *failFastActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := f.Next.ExecuteActivity(ctx, in)
	return res, docker.FailFast(err)
}
