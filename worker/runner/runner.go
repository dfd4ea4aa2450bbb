// Package runner wires Rewind's workflows and activities into Temporal workers and runs
// them under a context, so the worker binary and tests start and stop the same thing.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/holds"
	"github.com/algotrendy/rewind/worker/admission"
	"github.com/algotrendy/rewind/workflows"
	"github.com/algotrendy/rewind/workflows/api"
)

// Options are what a worker needs besides its Temporal client.
type Options struct {
	TaskQueue    string
	Host         string
	DrainTimeout time.Duration
	// Listen serves /metrics and /healthz; empty serves nothing.
	Listen   string
	Metrics  http.Handler
	Policy   *policy.Activities
	Docker   *docker.Activities
	Volume   *volume.Activities
	Notify   *notify.Activities
	Evidence *evidence.Activities
	Backup   *backup.Activities
	// Drill runs restore drills on this host; nil runs none.
	Drill *drill.Activities
	// Ready is called with the bound address of /healthz once both workers poll.
	Ready func(addr string)
	// Interceptors wrap every activity and workflow task (transfer metrics, crash points).
	Interceptors []interceptor.WorkerInterceptor
	// MaxConcurrentSteps bounds the steps this host runs at once (0: the SDK's default).
	MaxConcurrentSteps int
	// Holds is the ledger of the database holds backups take; Run lets go of those whose
	// run has ended, at start and every HoldSweep (default a minute).
	Holds     holds.Ledger
	HoldSweep time.Duration
	// Logger says what the worker did on its own (holds it let go).
	Logger *slog.Logger
}

// Run polls the rollback task queue (workflows, and the policy they resolve as a local
// activity) and this host's task queue (every step that touches the host) until ctx
// ends, then drains in-flight work.
func Run(ctx context.Context, c client.Client, o Options) error {
	// Admission comes first: a step no Rewind rollback asked for runs no other code either.
	gate := &admission.Gate{Temporal: c, Config: o.Policy.Config, Policy: o.Policy, Records: o.Evidence.Store, Workflows: idSchemes(), Since: time.Now()}
	interceptors := append([]interceptor.WorkerInterceptor{gate}, o.Interceptors...)
	opts := worker.Options{WorkerStopTimeout: o.DrainTimeout, Interceptors: interceptors}
	main := worker.New(c, o.TaskQueue, opts)
	main.RegisterWorkflow(workflows.Emergency)
	main.RegisterWorkflow(workflows.Full)
	main.RegisterWorkflow(workflows.Verify)
	main.RegisterWorkflow(workflows.Quick)
	main.RegisterWorkflow(workflows.Git)
	main.RegisterWorkflow(workflows.Guard)
	main.RegisterWorkflow(workflows.Fleet)
	main.RegisterWorkflow(workflows.Backup)
	main.RegisterWorkflow(workflows.Drill)
	main.RegisterActivity(o.Policy)
	// Notifications go out from any worker, so a host without one is still reported.
	main.RegisterActivity(o.Notify)

	hostOpts := opts
	hostOpts.MaxConcurrentActivityExecutionSize = o.MaxConcurrentSteps
	hostOpts.Interceptors = append([]interceptor.WorkerInterceptor{gate, &failFast{}}, o.Interceptors...)
	host := worker.New(c, api.HostTaskQueue(o.TaskQueue, o.Host), hostOpts)
	host.RegisterActivity(o.Docker)
	if o.Volume.Rollbacks == nil {
		o.Volume.Rollbacks = openRollbacks(c, o.Policy.Config)
	}
	host.RegisterActivity(o.Volume)
	host.RegisterActivity(o.Evidence)
	host.RegisterActivity(o.Notify)
	if o.Backup != nil {
		host.RegisterActivity(o.Backup)
	}
	if o.Drill != nil {
		if o.Drill.Open == nil {
			o.Drill.Open = runOpen(c)
		}
		host.RegisterActivity(o.Drill)
	}
	probeSteps := &probe.Activities{Holds: o.Holds}
	host.RegisterActivity(probeSteps)
	host.RegisterActivity(&gitrepo.Activities{})

	if err := main.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", o.TaskQueue, err)
	}
	defer main.Stop()
	if err := host.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", api.HostTaskQueue(o.TaskQueue, o.Host), err)
	}
	defer host.Stop()
	if o.Drill != nil {
		go ensureDrillSchedules(ctx, c, o)
		go sweepDrills(ctx, o)
	}

	errc := make(chan error, 1)
	addr := ""
	if o.Listen != "" {
		l, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return fmt.Errorf("listen for /metrics and /healthz on %s: %w", o.Listen, err)
		}
		addr = l.Addr().String()
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "ok: polling %s and %s\n", o.TaskQueue, api.HostTaskQueue(o.TaskQueue, o.Host))
		})
		if o.Metrics != nil {
			mux.Handle("/metrics", o.Metrics)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve /metrics and /healthz: %w", err)
			}
		}()
		defer srv.Close()
	}
	go sweepHolds(ctx, c, o, probeSteps)
	if o.Ready != nil {
		o.Ready(addr)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// idSchemes says, for each workflow type Run registers, how its workflow ID names the
// stack (or group) its steps may touch.
func idSchemes() map[string]admission.IDScheme {
	rollback := admission.IDScheme{Prefix: api.WorkflowID(""), Changes: true}
	return map[string]admission.IDScheme{
		"Emergency": rollback,
		"Full":      rollback,
		"Quick":     rollback,
		"Git":       rollback,
		"Verify":    {Prefix: api.WorkflowID(""), Suffix: "-verify"},
		"Guard":     {Prefix: api.WorkflowID(""), Suffix: "-guard"},
		"Fleet":     {Prefix: api.GroupWorkflowID(""), Group: true},
		// A backup holds the database still: its start is admitted like a P1 rollback's.
		"Backup": {Prefix: api.WorkflowID(""), Suffix: "-backup", Changes: true,
			Steps: []string{"HoldTargets", "HoldWrites", "CheckpointDatabase", "BackupVolume", "ReleaseWrites", "PruneBackups"}},
		// A drill changes no stack: it restores into volumes of its own and starts a
		// throwaway database on them, nothing else.
		"Drill": {Parse: api.DrillStack, Steps: DrillSteps()},
	}
}
