// Command democtl builds and drives the AlgoTrendy demo stack that `make demo` rolls back.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "democtl:", err)
		os.Exit(1)
	}
}

func run() error {
	project := flag.String("project", "algotrendy_v26", "compose project name of the demo stack")
	backups := flag.String("backups", ".rewind/backups", "folder of the backups (backup)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `Usage: democtl [--project NAME] build|up|seed|down|backup|corrupt

  build  compile the demo binaries and build their images (nothing is pulled)
  up     start the demo stack and wait until it is healthy
  seed   write 500 made-up trades into the market database (it starts empty)
  down     remove the demo stack, its networks and its volume
  backup   write questdb_backup_YYYYMMDD_HHMMSS.tar.gz + .sha256 + .fingerprint of the market database
  corrupt  overwrite the market database with garbage and restart it (api turns Unhealthy)
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	engine, err := engine.New(ctx)
	if err != nil {
		return err
	}
	defer engine.Close()
	file, err := demostack.ComposeFile()
	if err != nil {
		return err
	}
	command, err := docker.DetectCompose(ctx)
	if err != nil {
		return err
	}
	compose := demostack.Compose{Command: command, Project: *project, File: file}

	switch flag.Arg(0) {
	case "build":
		if err := demostack.BuildImages(ctx, engine); err != nil {
			return err
		}
		fmt.Printf("built %s and %s:v2.6-prod\n", demostack.DBImage, demostack.APIImage)
	case "up":
		if err := compose.Run(ctx, "up", "-d"); err != nil {
			return err
		}
		if err := demostack.WaitHealthy(ctx, engine, *project); err != nil {
			return err
		}
		fmt.Printf("demo stack %s is up: api http://127.0.0.1:5002/health, market-db http://127.0.0.1:9000\n", *project)
	case "seed":
		db, err := demostack.DatabaseURL(ctx, engine, *project)
		if err != nil {
			return err
		}
		if err := demostack.Seed(ctx, db, 500); err != nil {
			return err
		}
		fp, err := demostack.Fingerprint(ctx, db)
		if err != nil {
			return err
		}
		fmt.Printf("market database of %s seeded: %s\n", *project, fp)
	case "backup":
		p, err := demostack.Backup(ctx, engine, *project, *backups, time.Now())
		if err != nil {
			return err
		}
		fmt.Printf("backup written: %s\n", p)
	case "corrupt":
		if err := demostack.Corrupt(ctx, engine, *project); err != nil {
			return err
		}
		fmt.Printf("market database of %s corrupted\n", *project)
	case "down":
		if err := compose.Run(ctx, "down", "-v", "--remove-orphans"); err != nil {
			return err
		}
		fmt.Printf("demo stack %s removed\n", *project)
	default:
		flag.Usage()
		os.Exit(2)
	}
	return nil
}
