// Command devserver runs an embedded Temporal server and the Web UI: with SQLite, so
// Rewind runs on a machine where nothing else is installed, or with --postgres, as a
// production cluster without Docker images (frontend, history, matching and worker
// services in one process, the schema set up by Temporal's own SQL tooling).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/algotrendy/rewind/devserver/embedded"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(1)
	}
}

func run() error {
	var opts embedded.Options
	flag.StringVar(&opts.DBFile, "db", ".rewind/temporal.db", "SQLite file that keeps every workflow across restarts")
	memory := flag.Bool("memory", false, "keep everything in memory (lost on exit); overrides --db")
	flag.StringVar(&opts.IP, "ip", "127.0.0.1", "address gRPC and the Web UI bind to")
	flag.IntVar(&opts.GRPCPort, "port", 7233, "gRPC port of the Temporal frontend")
	flag.IntVar(&opts.UIPort, "ui-port", 8233, "port of the Web UI (-1: no UI)")
	flag.StringVar(&opts.Namespace, "namespace", "default", "namespace to create")
	flag.StringVar(&opts.LogLevel, "log-level", "warn", "server log level: debug, info, warn or error")
	flag.StringVar(&opts.Postgres, "postgres", os.Getenv("REWIND_TEMPORAL_POSTGRES"),
		"keep the data in PostgreSQL: postgres://USER:PASSWORD@HOST:5432/temporal (databases temporal and temporal_visibility are created and migrated); default $REWIND_TEMPORAL_POSTGRES, so the password stays out of ps")
	flag.DurationVar(&opts.Retention, "retention", 30*24*time.Hour, "how long closed rollbacks stay in a PostgreSQL-backed namespace")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: devserver [flags]\n\nRuns Temporal and its Web UI for Rewind on this machine.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *memory || opts.Postgres != "" {
		opts.DBFile = ""
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	server, err := embedded.Start(ctx, opts)
	if err != nil {
		return err
	}
	store := opts.DBFile
	switch {
	case opts.Postgres != "":
		store = "postgres " + redacted(opts.Postgres)
	case store == "":
		store = "memory"
	}
	fmt.Printf("Temporal gRPC %s  Web UI http://%s  namespace %s  data %s\n", server.GRPCAddr(), server.UIAddr(), opts.Namespace, store)
	<-ctx.Done()
	fmt.Println("devserver: stopping")
	server.Stop()
	return nil
}

func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
