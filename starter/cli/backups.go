package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
)

// localStack is a stack as this host's rewind.yaml describes it: `backups` and `plan`
// read the store and the checkout themselves, so they run where the worker does.
func (o *Options) localStack(name string) (*config.Config, config.Stack, error) {
	cfg, err := o.Config()
	if err != nil {
		return nil, config.Stack{}, err
	}
	if name == "" {
		return nil, config.Stack{}, badInputf("name the stack: --stack NAME (this rewind.yaml lists: %s)", strings.Join(cfg.StackNames(), ", "))
	}
	s, err := cfg.Stack(name)
	if err != nil {
		return nil, config.Stack{}, badInputf("%v; run this on the stack's Docker host, with the worker's rewind.yaml", err)
	}
	return cfg, s, nil
}

// BackupView is one line of `rewind backups`.
type BackupView struct {
	Volume   string
	Name     string
	Modified time.Time
	Size     int64
	// Checksum is the sidecar's sha256, empty without one.
	Checksum string `json:",omitempty"`
	// Last is the last time Rewind read the backup whole, if ever.
	Last *backups.Verdict `json:",omitempty"`
	// Drill is the backup's latest restore drill on this host, if any: a passed one
	// proves it.
	Drill *backups.Drill `json:",omitempty"`
	// Ours says `rewind backup` wrote it (its marker names the sidecar's sha256): only
	// such backups are counted and removed by retention.
	Ours bool
	// Reason is why Rewind took it, as its marker says ("before deploying v2.7").
	Reason string `json:",omitempty"`
}

// Proven says the backup's latest drill passed.
func (b BackupView) Proven() bool { return b.Drill != nil && b.Drill.OK }

// NewCmdBackups builds `rewind backups --stack STACK` (or `rewind backups STACK`).
func NewCmdBackups(o *Options) *cobra.Command {
	var verify, prune, dryRun bool
	var stack string
	cmd := &cobra.Command{
		Use:   "backups --stack STACK [--verify] [--prune --dry-run]",
		Short: "List a stack's backups, newest first, with their drills and what Rewind last found in each",
		Long: `List the backups of each of the stack's volumes, newest first: age, size, whether a
.sha256 sidecar records its checksum, the latest restore drill (passed or failed, when,
how long), and the last time Rewind read it whole (a full rollback's staging restore, or
--verify) with what it found. A freshness line per volume says how old the newest proven
backup is: what a full rollback now would lose, and whether that is over backups.max_age.

--verify reads every backup now as a full rollback would check it (sha256 against the
sidecar, every tar entry), records the result, and changes nothing else.

--prune --dry-run shows what the stack's backups.keep keeps and removes, and why, as the
worker applies it after each rewind backup: only backups Rewind wrote count (their
.rewind marker names the sidecar's sha256); the newest proven backup always stays, and
while a rollback of the stack runs nothing goes. Retention itself runs in the worker, so
--prune without --dry-run is refused.

It reads the store and runs on the stack's Docker host, with the worker's rewind.yaml.`,
		Example: "  rewind backups --stack prod\n  rewind backups --stack prod --verify\n  rewind backups --stack prod --prune --dry-run\n  rewind start full --stack prod --severity P2 --reason \"...\" --backup questdb_backup_20261125_020000.tar.gz",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if stack != "" && stack != args[0] {
					return badInputf("two stacks named: --stack %s and %s; name one", stack, args[0])
				}
				stack = args[0]
			}
			if prune && !dryRun {
				return badInputf("rewind backups --prune removes nothing by itself: the worker applies backups.keep after each rewind backup, where it knows which rollback runs; see what it would remove with --prune --dry-run")
			}
			if dryRun && !prune {
				return badInputf("--dry-run goes with --prune: rewind backups --stack %s --prune --dry-run", stack)
			}
			if prune && verify {
				return badInputf("--prune --dry-run and --verify are two runs: --verify reads every backup, --prune --dry-run only decides")
			}
			cfg, s, err := o.localStack(stack)
			if err != nil {
				return err
			}
			views, unread, err := listBackups(cmd, cfg, stack, s)
			if err != nil {
				return err
			}
			if unread != nil {
				fmt.Fprintf(o.Err, "warning: %v; the backups below show no drill from those records, and retention removes nothing until they are fixed or deleted\n", unread)
			}
			if prune {
				plan := prunePlan(s, views, unread)
				if o.JSON {
					return o.printJSON(plan)
				}
				printPrunePlan(o.Out, s, plan)
				return nil
			}
			if verify {
				verdicts := backups.Verdicts{Dir: backups.VerdictsDir(cfg.Worker.StateDir)}
				for i := range views {
					by := "rewind backups --verify"
					if who := firstNonEmpty(cfg.Identity.Name, os.Getenv("USER")); who != "" {
						by += " by " + who
					}
					v := readWhole(cmd, s, views[i], by, o.Err)
					if err := verdicts.Record(stack, v); err != nil {
						return err
					}
					views[i].Last = &v
				}
			}
			if o.JSON {
				return o.printJSON(views)
			}
			printBackups(o.Out, s, views, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&stack, "stack", "", "the stack, as rewind.yaml names it")
	cmd.Flags().BoolVar(&verify, "verify", false, "read every backup whole now and record what it holds")
	cmd.Flags().BoolVar(&prune, "prune", false, "with --dry-run: show what backups.keep keeps and removes, and why")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --prune: decide only, remove nothing")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

// listBackups lists every volume's backups with their sidecars, drills and last verdicts;
// unread names the drill records that could not be read (the others are shown).
func listBackups(cmd *cobra.Command, cfg *config.Config, stack string, s config.Stack) (views []BackupView, unread, err error) {
	verdicts, err := backups.Verdicts{Dir: backups.VerdictsDir(cfg.Worker.StateDir)}.Load(stack)
	if err != nil {
		return nil, nil, err
	}
	drills, unread := backups.Drills{Dir: backups.DrillsDir(cfg.Worker.StateDir)}.Load(stack)
	store, err := backups.Open(cmd.Context(), s.Backups.Location())
	if err != nil {
		return nil, nil, err
	}
	for _, v := range s.Volumes {
		listed, err := backups.List(cmd.Context(), store, backups.Query{Pattern: v.Pattern, Checksums: true})
		if err != nil {
			return nil, nil, fmt.Errorf("list the backups of %s: %w", v.Name, err)
		}
		for _, l := range listed {
			bv := BackupView{Volume: v.Name, Name: l.Name, Modified: l.ModTime, Size: l.Size, Checksum: l.SHA256}
			if last, ok := verdicts[l.Name]; ok {
				bv.Last = &last
			}
			// The same rules as the worker's retention: drills by the listed name and
			// sha256, Rewind's own by backups.Ours.
			if d, ok := backups.LatestFor(drills, l.Name, l.SHA256); ok {
				bv.Drill = &d
			}
			if m, ok := backups.Ours(cmd.Context(), store, l); ok {
				bv.Ours, bv.Reason = true, m.Reason
			}
			views = append(views, bv)
		}
	}
	return views, unread, nil
}

// readWhole checks a backup as a full rollback's verification does and says what it found.
func readWhole(cmd *cobra.Command, s config.Stack, b BackupView, by string, progress io.Writer) backups.Verdict {
	layout := "auto"
	if i := slices.IndexFunc(s.Volumes, func(v config.Volume) bool { return v.Name == b.Volume }); i >= 0 {
		layout = s.Volumes[i].Layout
	}
	fmt.Fprintf(progress, "reading %s (%s)...\n", b.Name, size(b.Size))
	began := time.Now()
	store, err := backups.Open(cmd.Context(), s.Backups.Location())
	var got backups.Verified
	if err == nil {
		got, err = backups.Verify(cmd.Context(), store, backups.Check{Name: b.Name, RequireChecksum: s.Backups.RequireChecksum, Layout: archive.LayoutName(layout)})
	}
	v := backups.Verdict{Name: b.Name, SHA256: got.SHA256, At: time.Now().UTC(), OK: err == nil, By: by}
	if err != nil {
		v.Detail = err.Error()
		if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
			v.Detail = appErr.Message()
		}
		return v
	}
	v.Bytes, v.Seconds = got.Size, time.Since(began).Seconds()
	v.Detail = fmt.Sprintf("read whole: %d entries, %s unpacked, sha256 %s", got.Entries, size(got.Bytes), map[string]string{"match": "matches its sidecar", "missing": "recorded (no sidecar)"}[got.Sidecar])
	return v
}

func printBackups(w io.Writer, s config.Stack, views []BackupView, now time.Time) {
	defer func() {
		for _, line := range freshness(s, views, now) {
			fmt.Fprintln(w, line)
		}
	}()
	if len(views) == 0 {
		fmt.Fprintln(w, "no backups found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tBACKUP\tAGE\tSIZE\tSHA256 SIDECAR\tDRILL\tLAST READ WHOLE")
	for _, b := range views {
		drill := "never"
		if d := b.Drill; d != nil {
			drill = fmt.Sprintf("passed %s ago in %s", human(now.Sub(d.At)), human(time.Duration(d.Seconds*float64(time.Second))))
			if !d.OK {
				drill = fmt.Sprintf("FAILED %s ago: %s", human(now.Sub(d.At)), d.Detail)
			}
		}
		sidecar := "none"
		if b.Checksum != "" {
			sidecar = b.Checksum[:12] + "…"
		}
		last := "never"
		if b.Last != nil {
			verdict := "FAILED"
			if b.Last.OK {
				verdict = "ok"
			}
			last = fmt.Sprintf("%s %s ago by %s: %s", verdict, human(now.Sub(b.Last.At)), b.Last.By, b.Last.Detail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Volume, b.Name, human(now.Sub(b.Taken())), size(b.Size), sidecar, drill, last)
	}
	_ = tw.Flush()
}

// newestVerdictRate is the throughput of this host's latest staging restore, 0 if none.
func newestVerdictRate(views []BackupView) float64 {
	var best *backups.Verdict
	for _, b := range views {
		if b.Last != nil && b.Last.Restored && b.Last.Rate() > 0 && (best == nil || b.Last.At.After(best.At)) {
			best = b.Last
		}
	}
	if best == nil {
		return 0
	}
	return best.Rate()
}
