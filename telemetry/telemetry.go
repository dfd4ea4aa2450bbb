// Package telemetry sets up OpenTelemetry for Rewind's processes: traces over OTLP when an
// endpoint is configured (or to stdout when asked), and metrics served for Prometheus.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options choose the exporters.
type Options struct {
	Service      string
	OTLPEndpoint string
	Stdout       bool
}

// Telemetry holds the providers a process uses and how to flush them.
type Telemetry struct {
	Tracer  trace.TracerProvider
	Meter   metric.MeterProvider
	Metrics http.Handler
	stop    []func(context.Context) error
}

// Setup builds the providers; call Shutdown before exit to flush spans.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	res := resource.NewSchemaless(semconv.ServiceName(o.Service))
	t := &Telemetry{Tracer: noop.NewTracerProvider()}

	endpoint := o.OTLPEndpoint
	if endpoint == "" {
		endpoint = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	var exporter sdktrace.SpanExporter
	var err error
	switch {
	case endpoint != "":
		exporter, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
		if err != nil {
			return nil, fmt.Errorf("create OTLP trace exporter for %s: %w", endpoint, err)
		}
	case o.Stdout:
		exporter, err = stdouttrace.New()
		if err != nil {
			return nil, fmt.Errorf("create stdout trace exporter: %w", err)
		}
	}
	if exporter != nil {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
		t.Tracer = tp
		t.stop = append(t.stop, tp.Shutdown)
	}

	reg := promclient.NewRegistry()
	prom, err := prometheus.New(prometheus.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("create prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(prom), sdkmetric.WithResource(res))
	t.Meter = mp
	t.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	t.stop = append(t.stop, mp.Shutdown)
	return t, nil
}

// Shutdown flushes and stops every provider.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, stop := range t.stop {
		errs = append(errs, stop(ctx))
	}
	return errors.Join(errs...)
}
