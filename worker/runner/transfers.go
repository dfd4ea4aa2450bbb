package runner

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/interceptor"

	"github.com/algotrendy/rewind/meter"
)

// TransferMetrics counts the bytes Rewind's transfers move, by kind, as the counter
// rewind.transfer (Prometheus: rewind_transfer_bytes_total), so operators see a long
// restore advance and tests see how much a resumed transfer sent again.
func TransferMetrics(m metric.Meter) (interceptor.WorkerInterceptor, error) {
	c, err := m.Int64Counter("rewind.transfer", metric.WithUnit("By"),
		metric.WithDescription("bytes moved by snapshots, uploads, downloads and restores"))
	if err != nil {
		return nil, fmt.Errorf("create transfer counter: %w", err)
	}
	return &transferMetrics{counter: c}, nil
}

type transferMetrics struct {
	interceptor.WorkerInterceptorBase
	counter metric.Int64Counter
}

func (t *transferMetrics) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &countTransfers{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, counter: t.counter}
}

type countTransfers struct {
	interceptor.ActivityInboundInterceptorBase
	counter metric.Int64Counter
}

func (c *countTransfers) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	ctx = meter.With(ctx, func(kind string, moved, _ int64) {
		c.counter.Add(context.Background(), moved, metric.WithAttributes(attribute.String("kind", kind)))
	})
	return c.Next.ExecuteActivity(ctx, in)
}
