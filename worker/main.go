// Command worker runs Rewind's rollbacks on a Docker host: it polls Temporal for workflow
// tasks and for the Docker steps of the stacks on this host, and drains on SIGTERM.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/activities/volume/mover"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/buildinfo"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/holds"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/telemetry"
	"github.com/algotrendy/rewind/temporalconn"
	"github.com/algotrendy/rewind/worker/crashpoint"
	"github.com/algotrendy/rewind/worker/runner"
)

func main() {
	// The worker's binary is also the mover (package mover): run in a helper container, it
	// restores, copies and swaps a volume's bytes.
	if len(os.Args) > 1 && os.Args[1] == "mover" {
		os.Exit(mover.Main(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rewind worker:", err)
		if config.IsProblems(err) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run() error {
	flags := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	flags.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: worker [flags]\n\nRuns Rewind's rollbacks on this Docker host.\n\n%s", flags.FlagUsages())
	}
	cfgPath := flags.String("config", "", "path of rewind.yaml (default: $REWIND_CONFIG, then ./rewind.yaml)")
	config.BindFlags(flags)
	flags.String("host", "", "name of this Docker host; stacks with host: <name> run their Docker steps here (worker.host)")
	flags.String("listen", "", "address for /metrics and /healthz (worker.listen)")
	version := flags.Bool("version", false, "print the version and commit of this build and exit")
	if err := flags.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			return nil
		}
		return &config.Problems{List: []config.Problem{{Key: "flags", Got: err.Error(), Want: "flags from `worker --help`"}}}
	}
	if *version {
		fmt.Println(buildinfo.Version("rewind-worker"))
		return nil
	}
	cfg, err := config.Load(*cfgPath, flags)
	if err != nil {
		return err
	}
	if cfg.Worker.Host == "" {
		if cfg.Worker.Host, err = os.Hostname(); err != nil {
			return fmt.Errorf("read hostname (set worker.host instead): %w", err)
		}
	}
	// Read once here, so a key gone later fails no rollback: plans carry its public half.
	slackKey, err := policy.SlackPublicKey(cfg.Policy.SlackKey)
	if err != nil {
		return fmt.Errorf("the worker cannot start: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	tel, err := telemetry.Setup(ctx, telemetry.Options{Service: "rewind-worker", OTLPEndpoint: cfg.Telemetry.OTLPEndpoint, Stdout: cfg.Telemetry.Stdout})
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(flush)
	}()
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tel.Tracer.Tracer("rewind-worker")})
	if err != nil {
		return fmt.Errorf("create tracing interceptor: %w", err)
	}
	hostname, _ := os.Hostname()
	c, err := temporalconn.Dial(cfg.Temporal, client.Options{
		// The SDK's own pid@host@, and the release: `rewind doctor` names the workers that
		// poll, with what they run.
		Identity:       fmt.Sprintf("%d@%s@%s", os.Getpid(), hostname, buildinfo.Version("rewind-worker")),
		Interceptors:   []interceptor.ClientInterceptor{tracing},
		MetricsHandler: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: tel.Meter.Meter("rewind-worker")}),
	}, logger)
	if err != nil {
		return err
	}
	defer c.Close()

	dockerEngine, err := engine.New(ctx)
	if err != nil {
		return err
	}
	defer dockerEngine.Close()
	store, err := storage.Open(ctx, cfg.Evidence.Location())
	if err != nil {
		return fmt.Errorf("open evidence store %s: %w", cfg.Evidence.Location(), err)
	}
	notifier, err := runner.Notifier(cfg)
	if err != nil {
		return err
	}
	if err := runner.StartSlackApprovals(ctx, cfg, c, logger); err != nil {
		return err
	}
	// The file is read again at every start and decision; a bad one stops the worker now.
	if _, err := runner.AllowedSigners(cfg); err != nil {
		return err
	}

	// Rollbacks end within hours; what they left in the state folder after three days
	// (staged snapshots, downloads, checkpoints) is only taking disk space.
	if n, err := runner.PruneState(cfg.Worker.StateDir, 72*time.Hour); err != nil {
		logger.Warn("prune the state folder", "dir", cfg.Worker.StateDir, "error", err)
	} else if n > 0 {
		logger.Info("pruned the state folder", "dir", cfg.Worker.StateDir, "files", n)
	}
	crash, err := crashpoint.Parse(cfg.Worker.CrashAt)
	if err != nil {
		return err
	}
	transfers, err := runner.TransferMetrics(tel.Meter.Meter("rewind-worker"))
	if err != nil {
		return err
	}
	// A step is kept alive four times within its heartbeat timeout.
	interceptors := []interceptor.WorkerInterceptor{transfers, heartbeat.Keepalive(cfg.Worker.HeartbeatTimeout / 4)}
	if crash != nil {
		logger.Warn("crash point armed: this worker kills itself there", "at", crash)
		interceptors = append(interceptors, crashpoint.Interceptor(crash))
	}
	if warning := cfg.WordWarning(); warning != "" {
		logger.Warn(warning)
	}
	ledger := holds.Ledger{Dir: holds.Dir(cfg.Worker.StateDir)}
	volumeSteps := &volume.Activities{Engine: dockerEngine, Evidence: store, StateDir: cfg.Worker.StateDir, BatchBytes: cfg.Worker.TransferBatch,
		NoRename: cfg.Worker.Swap == "copy", ArchiveOnly: cfg.Worker.Transfer == "archive", StopSwapBetweenMoves: crash.StopsSwapBetweenMoves()}
	// The first rollback should not wait for the mover's image.
	go func() {
		why, err := volume.PrepareMover(ctx, volumeSteps)
		switch {
		case err != nil:
			logger.Warn("build the mover image; the first restore tries again", "error", err)
		case why != "":
			logger.Info("restores and copies go through the engine's archive API", "why", why)
		}
	}()
	// Transfers are bound by gzip: say once which tools this host gives them.
	unzip, zip := archive.Decompressor(), archive.NewGzipper().Tool()
	logger.Info("transfers", "restores_decompress_with", unzip, "snapshots_compress_with", zip)
	if cost, install := archive.GzipCost(unzip); cost != "" {
		logger.Warn(cost + "; " + install)
	}
	logger.Info("worker starting", "temporal", cfg.Temporal.Address, "task_queue", cfg.Temporal.TaskQueue, "host", cfg.Worker.Host, "evidence", store.Describe())
	return runner.Run(ctx, c, runner.Options{
		TaskQueue:          cfg.Temporal.TaskQueue,
		Host:               cfg.Worker.Host,
		DrainTimeout:       cfg.Worker.DrainTimeout,
		Listen:             cfg.Worker.Listen,
		Metrics:            tel.Metrics,
		Policy:             &policy.Activities{Config: cfg, Host: cfg.Worker.Host, SlackKey: slackKey},
		Docker:             &docker.Activities{Engine: dockerEngine, Evidence: store, Holds: ledger},
		Volume:             volumeSteps,
		Evidence:           &evidence.Activities{Store: store},
		Notify:             notifier,
		Backup:             &backup.Activities{Downloads: filepath.Join(cfg.Worker.StateDir, "downloads")},
		Drill:              &drill.Activities{Engine: dockerEngine, Volume: volumeSteps, StateDir: cfg.Worker.StateDir},
		Interceptors:       interceptors,
		MaxConcurrentSteps: cfg.Worker.MaxConcurrentSteps,
		Holds:              ledger,
		HoldSweep:          cfg.Worker.HoldSweep,
		Logger:             logger,
		Ready: func(addr string) {
			logger.Info("worker ready", "healthz", "http://"+addr+"/healthz", "host_queue", cfg.Temporal.TaskQueue+"@"+cfg.Worker.Host)
		},
	})
}
