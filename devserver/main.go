// Command devserver runs an embedded Temporal server with SQLite persistence and the Web UI,
// so Rewind runs on a machine where nothing else is installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: devserver [flags]\n\nRuns Temporal and its Web UI for Rewind on this machine.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *memory {
		opts.DBFile = ""
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	server, err := embedded.Start(ctx, opts)
	if err != nil {
		return err
	}
	store := opts.DBFile
	if store == "" {
		store = "memory"
	}
	fmt.Printf("Temporal gRPC %s  Web UI http://%s  namespace %s  data %s\n", server.GRPCAddr(), server.UIAddr(), opts.Namespace, store)
	<-ctx.Done()
	fmt.Println("devserver: stopping")
	server.Stop()
	return nil
}
