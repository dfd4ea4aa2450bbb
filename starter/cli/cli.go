// Package cli is the `rewind` command: one constructor per verb over shared options that
// hold the output streams, the configuration and the Temporal client.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/buildinfo"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/temporalconn"
)

// Exit codes of every command.
const (
	ExitOK       = 0
	ExitFailed   = 1 // the rollback failed, or Rewind could not reach what it needs
	ExitBadInput = 2 // flags, arguments or configuration are wrong; nothing was changed
)

// badInput marks an error as the operator's to fix (exit code 2).
type badInput struct{ err error }

func (b badInput) Error() string { return b.err.Error() }
func (b badInput) Unwrap() error { return b.err }

func badInputf(format string, args ...any) error { return badInput{fmt.Errorf(format, args...)} }

// Options are shared by every command.
type Options struct {
	Out, Err   io.Writer
	ConfigPath string
	JSON       bool
	root       *cobra.Command
	cfg        *config.Config
	client     client.Client
}

// Main runs the CLI and returns its exit code.
func Main(args []string, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := &Options{Out: out, Err: errOut}
	root := NewRootCmd(o)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if o.client != nil {
		o.client.Close()
	}
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(errOut, "rewind:", err)
	var bi badInput
	if errors.As(err, &bi) || config.IsProblems(err) {
		return ExitBadInput
	}
	return ExitFailed
}

// NewRootCmd builds the `rewind` command tree.
func NewRootCmd(o *Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "rewind",
		Short: "Roll back a Docker Compose deployment as a durable Temporal workflow",
		Long: `rewind starts, approves and follows rollbacks of the stacks in rewind.yaml.

Each rollback runs as the workflow rewind-<stack> on a Rewind worker and survives crashes
of the worker, the host or Temporal. Options follow the runbook:
  quick      stop, remove, check out the previous tag, start, verify
  full       the same plus a database restore from the newest good backup
  git        stash, check out a tag or commit, rebuild, start, verify
  emergency  stop everything now and leave the stack offline

Exit codes: 0 success, 1 the rollback failed, 2 bad input (nothing was changed).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Version("rewind"),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&o.ConfigPath, "config", "", "path of rewind.yaml (default: $REWIND_CONFIG, then ./rewind.yaml)")
	config.BindFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return badInputf("%w (see --help)", err)
	})
	o.root = root
	root.AddCommand(
		NewCmdStart(o),
		NewCmdPlan(o),
		NewCmdBackups(o),
		NewCmdBackup(o),
		NewCmdDrill(o),
		NewCmdGuard(o, false),
		NewCmdGuard(o, true),
		NewCmdDecide(o, true),
		NewCmdDecide(o, false),
		NewCmdStatus(o),
		NewCmdWatch(o),
		NewCmdReport(o),
		NewCmdList(o),
		NewCmdCancel(o),
		NewCmdConfig(o),
		NewCmdDoctor(o),
		NewCmdVersion(o),
		NewCmdInit(o),
	)
	return root
}

// Config loads rewind.yaml once.
func (o *Options) Config() (*config.Config, error) {
	if o.cfg != nil {
		return o.cfg, nil
	}
	cfg, err := config.Load(o.ConfigPath, o.root.PersistentFlags())
	if err != nil {
		return nil, err
	}
	o.cfg = cfg
	return cfg, nil
}

// Client connects to Temporal once.
func (o *Options) Client() (client.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, err := o.Config()
	if err != nil {
		return nil, err
	}
	c, err := temporalconn.Dial(cfg.Temporal, client.Options{}, nil)
	if err != nil {
		return nil, err
	}
	o.client = c
	return c, nil
}

func (o *Options) printJSON(v any) error {
	enc := json.NewEncoder(o.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (o *Options) uiLink(id, runID string) string {
	base := "http://127.0.0.1:8233"
	if o.cfg != nil && o.cfg.Temporal.UIURL != "" {
		base = strings.TrimRight(o.cfg.Temporal.UIURL, "/")
	}
	ns := "default"
	if o.cfg != nil {
		ns = o.cfg.Temporal.Namespace
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s", base, ns, id, runID)
}
